"""`python -m tuning.board RUN_DIR`: TensorBoard on a run's trials.

Serves `RUN_DIR/tensorboard/` (one run per trial, named by variant or trial
label, with HParams) on 127.0.0.1 by default, prints the URL and serves until
interrupted.
"""

from __future__ import annotations

import argparse
import socket
import threading
from pathlib import Path

from tuning import cli
from tuning.errors import UsageError
from tuning.run_dir import RunDir


def start_tensorboard(logdir: Path, host: str = "127.0.0.1", port: int = 6006) -> str:
    """Starts TensorBoard on `logdir` in a background thread; returns its URL.

    Args:
        logdir: the TensorBoard root, `RUN_DIR/tensorboard`.
        host: the address to bind. Defaults to 127.0.0.1 (this machine only).
        port: the port; 0 picks a free one. Defaults to 6006.
    """
    from tensorboard import program

    _check_free(host, port)
    board = program.TensorBoard()
    board.configure(
        argv=[None, "--logdir", str(logdir), "--host", host, "--port", str(port)],
    )
    try:
        return board.launch()
    except program.TensorBoardServerException as e:
        raise UsageError(f"{e.msg.strip()} Pass another --port.") from None


def _check_free(host: str, port: int) -> None:
    """Refuses a port another program listens on, before TensorBoard starts
    its data server and prints its notes.

    Raises:
        UsageError: naming the address and the fix.
    """
    try:
        with socket.create_server((host, port)):
            pass
    except OSError as e:
        raise UsageError(
            f"Cannot serve TensorBoard on {host}:{port} ({e.strerror}). Pass "
            "another --port, or --port 0 for a free one."
        ) from None


def build_parser() -> argparse.ArgumentParser:
    parser = cli.run_dir_parser(
        "python -m tuning.board",
        "Serve TensorBoard on a run's trials (scalars and HParams).",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind")
    parser.add_argument(
        "--port", type=int, default=6006, help="port to serve on; 0 picks a free one"
    )
    cli.add_common_flags(parser)
    return parser


def board(args: argparse.Namespace) -> int:
    logdir = RunDir(args.run_dir).tensorboard
    if not logdir.is_dir():
        raise UsageError(
            f"No TensorBoard logs in {str(logdir)!r}. Pass a run directory written "
            "by `python -m tuning.search`."
        )
    cli.load_tensorflow_quietly()
    url = start_tensorboard(logdir, args.host, args.port)
    print(f"TensorBoard at {url} (Ctrl-C to stop)", flush=True)
    threading.Event().wait()
    return 0


def main(argv: list[str] | None = None) -> int:
    return cli.run_command(board, build_parser(), argv)


if __name__ == "__main__":
    cli.exit_process(main())
