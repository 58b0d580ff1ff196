"""`python -m tuning.plot RUN_DIR`: draw a run's figures again (`tuning.figures`)."""

from __future__ import annotations

import argparse

from tuning import cli
from tuning.errors import UsageError
from tuning.figures import DEFAULT_TOP
from tuning.run_dir import RunDir


def build_parser() -> argparse.ArgumentParser:
    parser = cli.run_dir_parser(
        "python -m tuning.plot",
        "Draw a run's learning curves and comparison again, as PNG files in "
        "RUN_DIR/plots (a wider search's importance and slices stay as the "
        "search drew them).",
    )
    parser.add_argument(
        "--top",
        type=cli.positive_int,
        default=DEFAULT_TOP,
        help="draw at most this many trials, the best by the study's objective",
    )
    cli.add_common_flags(parser)
    return parser


def plot(args: argparse.Namespace) -> int:
    from tuning.analysis import analyze_run
    from tuning.figures import write_figures

    run_dir = RunDir(args.run_dir)
    analysis = analyze_run(run_dir, run_dir.read_settings())
    paths = write_figures(run_dir, analysis, args.top)
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
