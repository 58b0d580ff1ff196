"""`python -m tuning.plot RUN_DIR`: draw a run's figures again (`tuning.plots`)."""

from __future__ import annotations

import argparse

from tuning import cli
from tuning.errors import UsageError
from tuning.plots import DEFAULT_TOP
from tuning.run_dir import RunDir


def build_parser() -> argparse.ArgumentParser:
    parser = cli.run_dir_parser(
        "python -m tuning.plot",
        "Draw a run's learning curves and comparison as PNG files in RUN_DIR/plots.",
    )
    parser.add_argument(
        "--top",
        type=cli.positive_int,
        default=DEFAULT_TOP,
        help="draw at most this many trials, the best by validation accuracy",
    )
    cli.add_common_flags(parser)
    return parser


def plot(args: argparse.Namespace) -> int:
    from tuning.plots import write_plots

    run_dir = RunDir(args.run_dir)
    if not run_dir.study.is_file():
        raise UsageError(
            f"{str(run_dir.root)!r} is not a run directory (no study.json). Pass "
            "one written by `python -m tuning.search`, e.g. logs/grid."
        )
    paths = write_plots(run_dir, run_dir.read_settings(), args.top)
    if not paths:
        raise UsageError(
            f"No finished epochs to plot in {str(run_dir.root)!r}. Pass a run "
            "directory written by `python -m tuning.search`."
        )
    for path in paths:
        print(path)
    return 0


def main(argv: list[str] | None = None) -> int:
    return cli.run_command(plot, build_parser(), argv)


if __name__ == "__main__":
    cli.exit_process(main())
