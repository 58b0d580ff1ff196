"""`python -m tuning.worker RUN_DIR`: train trials for the chief of a run.

The chief (`python -m tuning.search ... --chief` or `--workers N`) writes the
study's settings and its address into the run directory; a worker reads
both from there, over a shared filesystem when it runs on another machine,
so that it trains exactly the chief's study. Start as many as you like,
whenever you like; each asks the chief for trials until none are left.
"""

from __future__ import annotations

import argparse
import ctypes
import os
import re
import signal
import socket
import sys

from tuning import cli, runtime
from tuning.distributed.cluster import DEFAULT_WORKER_TIMEOUT
from tuning.errors import UsageError
from tuning.run_dir import RunDir

# Keras Tuner takes any tuner id containing "chief" for the chief's.
_WORKER_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
_PR_SET_PDEATHSIG = 1  # Linux prctl(2)


def worker_id(text: str) -> str:
    """An argparse `type=`: a name usable as a file name, without "chief"."""
    if not _WORKER_ID.fullmatch(text) or "chief" in text.lower():
        raise argparse.ArgumentTypeError(
            f"expected letters, digits, '.', '_' or '-' (64 at most) without "
            f"'chief', received {text!r}"
        )
    return text


def core_list(text: str) -> set[int]:
    """An argparse `type=`: CPU core numbers this process may use, e.g. `0,1`."""
    try:
        cores = {int(core) for core in text.split(",")}
    except ValueError:
        cores = set()
    available = os.sched_getaffinity(0)
    if not cores or not cores <= available:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated cores among {sorted(available)}, "
            f"received {text!r}"
        )
    return cores


def build_parser() -> argparse.ArgumentParser:
    parser = cli.run_dir_parser(
        "python -m tuning.worker",
        "Train trials for the chief of a run directory until none are left.",
    )
    parser.add_argument(
        "--chief",
        metavar="HOST:PORT",
        help="the chief's address (default: the one it wrote into RUN_DIR)",
    )
    parser.add_argument(
        "--id",
        type=worker_id,
        help="this worker's name; a worker restarted under the same name "
        "within the chief's timeout continues its trial (default: HOST-PID)",
    )
    parser.add_argument(
        "--cpus",
        type=core_list,
        metavar="LIST",
        help="train on these CPU cores only, e.g. 0,1 (default: all)",
    )
    parser.add_argument(
        "--chief-timeout",
        type=cli.positive_int_up_to(86_400),
        default=DEFAULT_WORKER_TIMEOUT,
        metavar="SECONDS",
        help="end with one line when no chief answers this long (default "
        f"{DEFAULT_WORKER_TIMEOUT}, what a chief waits for a silent worker)",
    )
    parser.add_argument(
        "--exit-with-parent", action="store_true", help=argparse.SUPPRESS
    )
    cli.add_common_flags(parser)
    return parser


def work(args: argparse.Namespace) -> int:
    """Joins the run's chief and trains the trials it hands out."""
    from tuning.distributed.connection import (
        ChiefConnection,
        check_contact,
        parse_address,
    )

    run_dir = RunDir(args.run_dir)
    if not run_dir.study.is_file():
        raise UsageError(
            f"{str(run_dir.root)!r} holds no study.json: it is not a run "
            "directory, or its chief has not started yet. Pass the directory "
            "its chief serves (<logdir>/<run-name>)."
        )
    settings = run_dir.read_settings()
    connection = ChiefConnection.read(run_dir)
    if connection is None:
        raise UsageError(
            f"No chief serves {str(run_dir.root)!r}. Start it first: python -m "
            "tuning.search ... --chief (or --workers N)."
        )
    address = args.chief or connection.address
    try:
        host, port = parse_address(address)
    except ValueError as e:
        raise UsageError(f"--chief: {e}") from None
    name = args.id or f"{socket.gethostname()}-{os.getpid()}"
    if args.exit_with_parent:
        _exit_with_parent()
    if args.cpus:
        os.sched_setaffinity(0, args.cpus)  # before XLA sizes its thread pools
    check_contact(connection.open_channel(name, address), address, str(run_dir.root))
    # Keras Tuner's own switch to a worker: its tuner proxies the oracle.
    os.environ.update(
        KERASTUNER_TUNER_ID=name,
        KERASTUNER_ORACLE_IP=host,
        KERASTUNER_ORACLE_PORT=str(port),
    )
    with runtime.collections_paused():
        runtime.prepare(settings.backend, settings.mode)  # before Keras loads
        from tuning.distributed.client import ChiefClient
        from tuning.study import run_worker

    run_worker(
        run_dir,
        settings,
        lambda oracle: ChiefClient(
            oracle, connection, name, address, args.chief_timeout
        ),
        cli.verbosity(args),
    )
    return 0


def _exit_with_parent() -> None:
    """Asks Linux to kill this process when the process that started it dies
    (a chief killed with SIGKILL leaves no worker behind)."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() == 1:  # the parent died before the request took effect
        sys.exit(1)


def main(argv: list[str] | None = None) -> int:
    return cli.run_command(work, build_parser(), argv, resumes=True)


if __name__ == "__main__":
    cli.exit_process(main())
