"""`python -m tuning.plot RUN_DIR`: a run's learning curves as PNG files.

Writes into `RUN_DIR/plots/`:

- `val_accuracy.png`, `val_loss.png`: the notebook's two figures, one line
  per trial;
- `overfitting_accuracy.png`, `overfitting_loss.png`: small multiples, one
  panel per trial, train against validation, the best epoch marked.

Every trial keeps one colour across all figures. Searches with more trials
than `--top` draw the best ones by validation accuracy. Computing what to
draw (`validation_curves`, `overfitting_panels`) is kept apart from drawing
it (`draw_curves`, `draw_panels`).
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path
from typing import NamedTuple

from tuning import cli
from tuning.errors import UsageError
from tuning.run_dir import RunDir
from tuning.trials import TrialRecord, best_epoch, load_trials

OBJECTIVE = "val_accuracy"
TITLES = {
    "val_accuracy": "Validation accuracy",
    "val_loss": "Validation loss",
    "accuracy": "Accuracy",
    "loss": "Loss",
}
DEFAULT_TOP = 10


class Curves(NamedTuple):
    """One metric's per-epoch values for each trial, ready to draw.

    Attributes:
        metric: the history key, e.g. `val_accuracy`.
        labels: one per line, in drawing order.
        values: per-epoch values, aligned with `labels`.
    """

    metric: str
    labels: list[str]
    values: list[list[float]]


class Panel(NamedTuple):
    """One trial's train and validation curves of a metric, and its best epoch."""

    label: str
    train: list[float]
    validation: list[float]
    best_epoch: int


def select_trials(records: list[TrialRecord], top: int = DEFAULT_TOP):
    """Trials with at least one epoch; the `top` best by validation accuracy
    (in rank order) when there are more than `top`, else all in trial order."""
    drawn = [r for r in records if r.history.get(OBJECTIVE)]
    if len(drawn) > top:
        drawn = sorted(drawn, key=lambda r: -max(r.history[OBJECTIVE]))[:top]
    return drawn


def validation_curves(records: list[TrialRecord], metric: str) -> Curves:
    """Collects `metric` per epoch for every trial that has finished an epoch."""
    drawn = [r for r in records if r.history.get(metric)]
    return Curves(metric, [r.label for r in drawn], [r.history[metric] for r in drawn])


def overfitting_panels(records: list[TrialRecord], metric: str) -> list[Panel]:
    """Train vs validation `metric` per trial; best epoch by validation accuracy."""
    return [
        Panel(
            label=r.label,
            train=r.history[metric],
            validation=r.history[f"val_{metric}"],
            best_epoch=best_epoch(r.history[OBJECTIVE]),
        )
        for r in records
        if r.history.get(OBJECTIVE)
    ]


def trial_colors(labels: list[str]) -> dict[str, tuple]:
    """One distinct colour per trial label (tab10, or tab20 past ten)."""
    from matplotlib import colormaps

    palette = colormaps["tab10" if len(labels) <= 10 else "tab20"]
    return {label: palette(i % palette.N) for i, label in enumerate(labels)}


def draw_curves(curves: Curves, colors: dict[str, tuple], subtitle: str = ""):
    """Draws one line per trial against 1-based epochs; returns the Figure."""
    figure, axes = _figure()
    for label, values in zip(curves.labels, curves.values, strict=True):
        epochs = range(1, len(values) + 1)
        axes.plot(
            epochs, values, marker="o", markersize=3, label=label, color=colors[label]
        )
    title = TITLES.get(curves.metric, curves.metric)
    _decorate(axes, title, title)
    axes.legend(loc="best", fontsize="small")
    figure.suptitle(subtitle, fontsize="small")
    return figure


def draw_panels(panels: list[Panel], metric: str, colors: dict, subtitle: str = ""):
    """Small multiples: per trial, train (dashed) and validation (solid) curves
    with the best epoch marked by a vertical line; returns the Figure."""
    from matplotlib.figure import Figure

    columns = min(3, len(panels))
    rows = math.ceil(len(panels) / columns)
    figure = Figure(figsize=(4 * columns, 3 * rows), layout="constrained")
    grid = figure.subplots(rows, columns, sharex=True, sharey=True, squeeze=False)
    for axes, panel in zip(grid.flat, panels, strict=False):
        color = colors[panel.label]
        epochs = range(1, len(panel.train) + 1)
        axes.plot(epochs, panel.train, linestyle="--", color=color, label="train")
        axes.plot(
            epochs,
            panel.validation,
            marker="o",
            markersize=3,
            color=color,
            label="validation",
        )
        axes.axvline(panel.best_epoch, color="grey", linewidth=0.8, linestyle=":")
        axes.plot(
            panel.best_epoch,
            panel.validation[panel.best_epoch - 1],
            "k*",
            markersize=9,
            label=f"best epoch ({panel.best_epoch})",
        )
        _decorate(axes, panel.label, TITLES[metric])
        axes.legend(loc="best", fontsize="x-small")
    for axes in grid.flat[len(panels) :]:
        axes.set_visible(False)
    figure.suptitle(
        f"Train vs validation {TITLES[metric].lower()}. {subtitle}", fontsize="small"
    )
    return figure


def write_plots(run_dir: RunDir, top: int = DEFAULT_TOP) -> list[Path]:
    """Writes the four figures into `RUN_DIR/plots/`; returns the files written.

    Raises:
        UsageError: if the run has no finished epoch to draw.
    """
    from tuning.reports import describe_protocol

    records = select_trials(load_trials(run_dir), top)
    if not records:
        raise UsageError(
            f"No finished epochs to plot in {str(run_dir.root)!r}. Pass a run "
            "directory written by `python -m tuning.search`."
        )
    subtitle = describe_protocol(run_dir.read_settings())
    colors = trial_colors([r.label for r in records])
    figures = {
        f"{metric}.png": draw_curves(
            validation_curves(records, metric), colors, subtitle
        )
        for metric in ("val_accuracy", "val_loss")
    }
    for metric in ("accuracy", "loss"):
        panels = overfitting_panels(records, metric)
        figures[f"overfitting_{metric}.png"] = draw_panels(
            panels, metric, colors, subtitle
        )
    run_dir.plots.mkdir(parents=True, exist_ok=True)
    for name, figure in figures.items():
        figure.savefig(run_dir.plots / name, dpi=110)
    return [run_dir.plots / name for name in figures]


def _figure():
    from matplotlib.figure import Figure

    figure = Figure(figsize=(9, 5.5), layout="constrained")
    return figure, figure.subplots()


def _decorate(axes, title: str, ylabel: str) -> None:
    from matplotlib.ticker import MaxNLocator

    axes.set_title(title)
    axes.set_xlabel("Epoch")
    axes.set_ylabel(ylabel)
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes.grid(alpha=0.3)


def build_parser() -> argparse.ArgumentParser:
    parser = cli.run_dir_parser(
        "python -m tuning.plot",
        "Draw a run's learning curves as PNG files in RUN_DIR/plots.",
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
    run_dir = RunDir(args.run_dir)
    if not run_dir.study.is_file():
        raise UsageError(
            f"{str(run_dir.root)!r} is not a run directory (no study.json). Pass "
            "one written by `python -m tuning.search`, e.g. logs/grid."
        )
    for path in write_plots(run_dir, args.top):
        print(path)
    return 0


def main(argv: list[str] | None = None) -> int:
    return cli.run_command(plot, build_parser(), argv)


if __name__ == "__main__":
    sys.exit(main())
