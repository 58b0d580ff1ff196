"""`python -m tuning.plot RUN_DIR`: the study's validation curves as PNG files.

Draws the notebook's two figures, validation accuracy and validation loss per
epoch with one line per trial, into `RUN_DIR/plots/`. Computing the curves
(`validation_curves`) is kept apart from drawing them (`draw_curves`).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import NamedTuple

from tuning import cli
from tuning.errors import UsageError
from tuning.run_dir import RunDir
from tuning.trials import TrialRecord, load_trials

FIGURES = {
    "val_accuracy": "Validation accuracy",
    "val_loss": "Validation loss",
}


class Curves(NamedTuple):
    """One metric's per-epoch values for each trial, ready to draw.

    Attributes:
        metric: the history key, e.g. `val_accuracy`.
        title: the figure title.
        labels: one per line, in trial order.
        values: per-epoch values, aligned with `labels`.
    """

    metric: str
    title: str
    labels: list[str]
    values: list[list[float]]


def validation_curves(records: list[TrialRecord], metric: str) -> Curves:
    """Collects `metric` per epoch for every trial that has finished an epoch."""
    drawn = [r for r in records if r.history.get(metric)]
    return Curves(
        metric=metric,
        title=FIGURES.get(metric, metric),
        labels=[r.label for r in drawn],
        values=[r.history[metric] for r in drawn],
    )


def draw_curves(curves: Curves):
    """Draws one line per trial against 1-based epochs; returns the Figure."""
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    figure = Figure(figsize=(9, 5.5), layout="constrained")
    axes = figure.subplots()
    colors = _colors(len(curves.labels))
    for label, values, color in zip(curves.labels, curves.values, colors, strict=True):
        epochs = range(1, len(values) + 1)
        axes.plot(epochs, values, marker="o", markersize=3, label=label, color=color)
    axes.set_title(curves.title)
    axes.set_xlabel("Epoch")
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes.set_ylabel(curves.title)
    axes.grid(alpha=0.3)
    axes.legend(loc="best", fontsize="small")
    return figure


def write_plots(run_dir: RunDir) -> list[Path]:
    """Writes `plots/<metric>.png` for each figure; returns the files written.

    Raises:
        UsageError: if the run has no finished epoch to draw.
    """
    records = load_trials(run_dir)
    if not any(r.history for r in records):
        raise UsageError(
            f"No finished epochs to plot in {str(run_dir.root)!r}. Pass a run "
            "directory written by `python -m tuning.search`."
        )
    run_dir.plots.mkdir(parents=True, exist_ok=True)
    written = []
    for metric in FIGURES:
        path = run_dir.plots / f"{metric}.png"
        draw_curves(validation_curves(records, metric)).savefig(path, dpi=120)
        written.append(path)
    return written


def _colors(count: int) -> list:
    """A distinct colour per line, in trial order (tab10, then tab20)."""
    from matplotlib import colormaps

    palette = colormaps["tab10" if count <= 10 else "tab20"]
    return [palette(i % palette.N) for i in range(count)]


def build_parser() -> argparse.ArgumentParser:
    parser = cli.ArgumentParser(
        prog="python -m tuning.plot",
        description="Draw a run's validation curves as PNG files.",
    )
    parser.add_argument("run_dir", type=Path, help="a run directory, logs/<run-name>")
    cli.add_common_flags(parser)
    return parser


def plot(args: argparse.Namespace) -> int:
    for path in write_plots(RunDir(args.run_dir)):
        print(path)
    return 0


def main(argv: list[str] | None = None) -> int:
    return cli.run_command(plot, build_parser(), argv)


if __name__ == "__main__":
    sys.exit(main())
