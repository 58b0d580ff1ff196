"""Errors the command line turns into one-line messages.

A `UsageError` is the user's to fix (a bad flag, a missing or broken data
file): the CLI prints its message and exits with status 2, with no traceback
and nothing written. A `StudyStopped` is the machine's (a full disk, workers
that all exited): the CLI prints its message and exits with status 1, and
the same command resumes the study. Anything else is a bug and keeps its
traceback under `--debug`.
"""


class UsageError(Exception):
    """Bad input from the user; the message names the problem and the fix."""


class DataError(UsageError):
    """The IMDB data cannot be found, downloaded or read."""


class StudyStopped(Exception):
    """The machine stopped a study that the same command resumes; the
    message names what happened and where."""
