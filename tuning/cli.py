"""Shared command-line plumbing: one-line errors, verbosity, exit codes."""

from __future__ import annotations

import argparse
import gc
import importlib.util
import logging
import math
import os
import re
import sys
import tempfile
from collections.abc import Callable
from signal import SIGINT
from typing import NoReturn

from tuning import stopping
from tuning.errors import StudyStopped, UsageError

# A study stopped by the machine, or in which no trial completed.
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 128 + SIGINT


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


# TensorFlow's native start-up notes on a machine without a GPU: not errors.
_BENIGN_NATIVE_NOTES = re.compile(
    "All log messages before absl::InitializeLog|oneDNN custom operations|"
    "Could not find cuda drivers|failed call to cuInit|cpu_feature_guard|"
    "To enable the following instructions|TensorFlow binary is optimized"
)


def load_tensorflow_quietly() -> None:
    """Loads TensorFlow with its native start-up notes kept off stderr.

    On a machine without a GPU, TensorFlow prints "failed call to cuInit",
    oneDNN and CPU-feature notes when it loads and first looks for devices,
    before absl reads any log level, so no environment variable silences
    them: to a reader they are errors where nothing is wrong. For the
    TensorFlow backend and for TensorBoard's server (runs on other backends
    keep it out, `tuning.runtime.settle_packages`), it is loaded here once,
    with file descriptor 2 captured, and every other line is passed on.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "1")  # later notes: warnings up
    if importlib.util.find_spec("tensorflow") is None:
        return  # not installed: nothing will load it (`[tensorflow]` extra)
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile(mode="w+b") as captured:
        os.dup2(captured.fileno(), 2)
        try:
            import tensorflow as tf

            tf.config.list_physical_devices()
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        captured.seek(0)
        lines = captured.read().decode(errors="replace").splitlines(keepends=True)
    sys.stderr.writelines(
        line for line in lines if not _BENIGN_NATIVE_NOTES.search(line)
    )


def verbosity(args: argparse.Namespace) -> int:
    """Keras `fit` verbosity from `-q`/`-v`: 0 quiet, 2 one line per epoch,
    1 progress bars."""
    if args.quiet:
        return 0
    return 1 if args.verbose else 2


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


def positive_int_up_to(maximum: int) -> Callable[[str], int]:
    """An argparse `type=` for integers from 1 to `maximum`, for counts where
    a larger one is a typo that would run for days."""

    def parse(text: str) -> int:
        value = positive_int(text)
        if value > maximum:
            raise argparse.ArgumentTypeError(
                f"expected a positive integer up to {maximum:,}, received {text!r}"
            )
        return value

    return parse


def float_between(low: float, high: float, expected: str) -> Callable[[str], float]:
    """An argparse `type=` for numbers strictly between `low` and `high`
    (NaN is neither), described to the user as `expected`."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        if not low < value < high:
            raise argparse.ArgumentTypeError(f"expected {expected}, received {text!r}")
        return value

    return parse


def run_command(
    command: Callable[[argparse.Namespace], int],
    parser: argparse.ArgumentParser,
    argv: list[str] | None,
    resumes: bool = False,
) -> int:
    """Parses `argv` and runs `command(args)`; returns the exit status.

    Argument errors and `UsageError`s print one line and return 2; a path
    the system refuses (`OSError`) prints one line and returns 1. A stop
    request prints one line, which says to run the command again where
    that resumes it (`resumes`: a study's search and its workers).
    """
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:  # --help, or an argument error already printed.
        return e.code
    # Only this tool's own diagnostics at INFO: libraries stay at WARNING.
    logging.basicConfig(level=logging.WARNING, format="%(message)s", stream=sys.stderr)
    # --debug: tracebacks, and the tool's debug diagnostics (Keras Tuner's
    # tracebacks of failed trials among them, `tuning.tuner`).
    level = logging.WARNING if args.quiet else logging.INFO
    logging.getLogger("tuning").setLevel(logging.DEBUG if args.debug else level)
    try:
        with stopping.stop_requests():
            status = command(args)
            stop = stopping.requested()
        if stop is not None and status == 0:  # asked for, and lost: see stopping
            raise stop
        return status
    except (UsageError, StudyStopped) as e:
        if args.debug:
            raise
        print(f"error: {e}", file=sys.stderr)
        return EXIT_USAGE if isinstance(e, UsageError) else EXIT_FAILED
    except OSError as e:  # a path the system refuses: read-only, too long...
        if args.debug:
            raise
        where = f"{e.filename!r}: " if e.filename else ""
        print(
            f"error: {where}{e.strerror or e}. Choose a path this user can "
            "write, or free it.",
            file=sys.stderr,
        )
        return EXIT_FAILED
    except KeyboardInterrupt as e:
        stop = e if isinstance(e, stopping.StopRequested) else None
        what = "Terminated" if stop and stop.signal_number != SIGINT else "Interrupted"
        advice = " Run the same command again to resume." if resumes else ""
        print(f"{what}.{advice}", file=sys.stderr)
        return stop.exit_status if stop else EXIT_INTERRUPTED


def exit_process(status: int) -> NoReturn:
    """Ends a command's process with `status`, sparing Python's shutdown the
    sweep of every object still loaded.

    A search ends with Keras, JAX and Keras Tuner loaded, and Python's
    shutdown collected all their objects: about half a second after the
    last line of work (benchmarks/README.md). Frozen objects
    (`gc.freeze`) are left to the operating system; atexit handlers still
    run and standard streams are still flushed, and every file this tool
    writes is closed before it returns. Only for a process about to end:
    what is frozen is never collected.
    """
    gc.freeze()
    sys.exit(status)
