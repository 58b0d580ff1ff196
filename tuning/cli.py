"""Shared command-line plumbing: one-line errors, verbosity, exit codes."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable

from tuning.errors import UsageError

EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


class ArgumentParser(argparse.ArgumentParser):
    """An `argparse.ArgumentParser` whose errors are one line, exit status 2."""

    def error(self, message: str):
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see --help)\n")


def add_common_flags(parser: argparse.ArgumentParser) -> None:
    """Adds `-v`, `-q` and `--debug`."""
    group = parser.add_mutually_exclusive_group()
    group.add_argument(
        "-v", "--verbose", action="store_true", help="show per-batch progress bars"
    )
    group.add_argument(
        "-q", "--quiet", action="store_true", help="print only the results"
    )
    parser.add_argument(
        "--debug", action="store_true", help="show tracebacks for errors"
    )


def run_dir_parser(prog: str, description: str) -> ArgumentParser:
    """A parser whose first argument is a run directory, e.g. `logs/grid`."""
    from pathlib import Path

    parser = ArgumentParser(prog=prog, description=description)
    parser.add_argument("run_dir", type=Path, help="a run directory, logs/<run-name>")
    return parser


def positive_int(text: str) -> int:
    """An argparse `type=` for integers >= 1."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(
            f"expected a positive integer, received {text!r}"
        )
    return value


def run_command(
    command: Callable[[argparse.Namespace], int],
    parser: argparse.ArgumentParser,
    argv: list[str] | None,
) -> int:
    """Parses `argv` and runs `command(args)`; returns the exit status.

    Argument errors and `UsageError`s print one line and return 2.
    """
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:  # --help, or an argument error already printed.
        return e.code
    # Only this tool's own diagnostics at INFO: libraries stay at WARNING.
    logging.basicConfig(level=logging.WARNING, format="%(message)s", stream=sys.stderr)
    logging.getLogger("tuning").setLevel(
        logging.WARNING if args.quiet else logging.INFO
    )
    try:
        return command(args)
    except UsageError as e:
        if args.debug:
            raise
        print(f"error: {e}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("Interrupted. Run the same command again to resume.", file=sys.stderr)
        return EXIT_INTERRUPTED
