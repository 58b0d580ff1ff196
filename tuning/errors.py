"""Errors the command line turns into one-line messages.

A `UsageError` is the user's to fix (a bad flag, a missing or broken data
file): the CLI prints its message and exits with status 2, with no traceback
and nothing written. Anything else is a bug or an environment failure and
keeps its traceback under `--debug`.
"""


class UsageError(Exception):
    """Bad input from the user; the message names the problem and the fix."""


class DataError(UsageError):
    """The IMDB data cannot be found, downloaded or read."""
