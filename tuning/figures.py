"""A run's figures as PNG files in `RUN_DIR/plots/`.

- `val_accuracy.png`, `val_loss.png`: the notebook's two figures, one line
  per trial (with repeats: each trial's mean, with its 95% band);
- `overfitting_accuracy.png`, `overfitting_loss.png`: small multiples, one
  panel per trial, train against validation, the objective's best epoch
  starred;
- `comparison.png`: each trial's mean objective with its 95% interval as a
  dot and whiskers, the reference trial's interval shaded.

A wider search's `importance.png` and `slices.png` are drawn by
`tuning.importance_outputs` (so `tuning.plot` redraws these five without
assessing importance again), and `compare.png` by `tuning.compare_outputs`;
both write through `write_figure`.

Every trial keeps one colour across all figures. Searches with more trials
than `--top` draw the best ones by the objective. What to draw is computed
from an `tuning.analysis.Analysis` (`validation_curves`,
`overfitting_panels`, `comparison_intervals`), apart from drawing it
(`draw_curves`, `draw_panels`, `draw_intervals`).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import NamedTuple

from tuning.analysis import Analysis, TrialResult
from tuning.files import atomic_file
from tuning.objective import METRICS
from tuning.run_dir import RunDir

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
        epochs: per trial, its 1-based epoch numbers (a continued Hyperband
            trial starts past 1).
        values: per-epoch values (the mean over repeats), aligned with `labels`.
        bands: per trial, the per-epoch 95% interval of the mean over its
            repeats as `(low, high)`, or `None` for a single run.
    """

    metric: str
    labels: list[str]
    epochs: list[list[int]]
    values: list[list[float]]
    bands: list[tuple[list[float], list[float]] | None]


class Intervals(NamedTuple):
    """Each trial's mean best objective over its runs, with its 95% interval.

    Attributes:
        metric: the objective, e.g. `val_accuracy`.
        labels: the trials, in drawing order.
        means, lows, highs: aligned with `labels`; NaN bounds for one run.
        reference: the label whose interval is shaded, or `None`.
    """

    metric: str
    labels: list[str]
    means: list[float]
    lows: list[float]
    highs: list[float]
    reference: str | None
    margin: float | None = None


class Panel(NamedTuple):
    """One trial's train and validation curves of a metric, and the best
    epoch of the objective (`best_of`)."""

    label: str
    epochs: list[int]
    train: list[float]
    validation: list[float]
    best_epoch: int
    best_of: str


def validation_curves(trials: list[TrialResult], metric: str) -> Curves:
    """Collects `metric` per epoch for each trial, with a 95% band where the
    trial has more than one run."""
    return Curves(
        metric,
        [t.label for t in trials],
        [t.epochs for t in trials],
        [t.history[metric] for t in trials],
        [t.bands.get(metric) for t in trials],
    )


def comparison_intervals(analysis: Analysis, trials: list[TrialResult]) -> Intervals:
    """Each trial's mean objective over its finished runs, with its 95%
    interval, and the reference trial."""
    summaries = [(t.label, t.summaries["objective"]) for t in trials if t.summaries]
    return Intervals(
        analysis.objective.name,
        [label for label, _ in summaries],
        [s.mean for _, s in summaries],
        [s.ci_low for _, s in summaries],
        [s.ci_high for _, s in summaries],
        analysis.reference,
        analysis.settings.margin if analysis.settings.gives_verdicts else None,
    )


def overfitting_panels(
    trials: list[TrialResult], metric: str, objective: str
) -> list[Panel]:
    """Train vs validation `metric` per trial, and its objective's best epoch."""
    return [
        Panel(
            label=t.label,
            epochs=t.epochs,
            train=t.history[metric],
            validation=t.history[f"val_{metric}"],
            best_epoch=t.best_epoch,
            best_of=objective,
        )
        for t in trials
    ]


def trial_colors(labels: list[str]) -> dict[str, tuple]:
    """One distinct colour per trial label (tab10, or tab20 past ten)."""
    from matplotlib import colormaps

    palette = colormaps["tab10" if len(labels) <= 10 else "tab20"]
    return {label: palette(i % palette.N) for i, label in enumerate(labels)}


def draw_curves(curves: Curves, colors: dict[str, tuple], subtitle: str = ""):
    """Draws one line per trial against its epoch numbers; returns the Figure."""
    figure, axes = _figure()
    for label, epochs, values, band in zip(
        curves.labels, curves.epochs, curves.values, curves.bands, strict=True
    ):
        axes.plot(
            epochs, values, marker="o", markersize=3, label=label, color=colors[label]
        )
        if band is not None:
            axes.fill_between(epochs, *band, color=colors[label], alpha=0.15)
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
        axes.plot(panel.epochs, panel.train, linestyle="--", color=color, label="train")
        axes.plot(
            panel.epochs,
            panel.validation,
            marker="o",
            markersize=3,
            color=color,
            label="validation",
        )
        axes.axvline(panel.best_epoch, color="grey", linewidth=0.8, linestyle=":")
        axes.plot(
            panel.best_epoch,
            panel.validation[panel.epochs.index(panel.best_epoch)],
            "k*",
            markersize=9,
            label=f"best {panel.best_of} ({panel.best_epoch})",
        )
        _decorate(axes, panel.label, TITLES[metric])
        axes.legend(loc="best", fontsize="x-small")
    for axes in grid.flat[len(panels) :]:
        axes.set_visible(False)
    figure.suptitle(
        f"Train vs validation {TITLES[metric].lower()}. {subtitle}", fontsize="small"
    )
    return figure


def draw_intervals(intervals: Intervals, colors: dict, subtitle: str = ""):
    """One row per trial: its mean as a dot and its 95% interval as whiskers,
    the reference's interval shaded across the figure and, where trials were
    compared, the reference's mean plus or minus the margin hatched (a trial
    inside it by its comparison's interval is equivalent); returns the
    Figure."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(8, 1.5 + 0.45 * len(intervals.labels)))
    axes = figure.subplots()
    figure.set_layout_engine("constrained")
    rows = range(len(intervals.labels))
    for row, label, mean, low, high in zip(
        rows,
        intervals.labels,
        intervals.means,
        intervals.lows,
        intervals.highs,
        strict=True,
    ):
        if label == intervals.reference and not math.isnan(low):
            axes.axvspan(low, high, color="grey", alpha=0.2, label=f"{label} 95% CI")
        if label == intervals.reference and intervals.margin:
            band = (mean - intervals.margin, mean + intervals.margin)
            axes.axvspan(*band, fill=False, hatch="//", edgecolor="tab:green",
                         linewidth=0, alpha=0.5,
                         label=f"{label} ± margin {intervals.margin:g}")  # fmt: skip
        if not math.isnan(low):
            axes.hlines(row, low, high, color=colors[label], linewidth=2)
        axes.plot(mean, row, "o", color=colors[label], markersize=7)
    axes.set_yticks(list(rows), intervals.labels)
    axes.invert_yaxis()
    name = TITLES.get(intervals.metric, intervals.metric).lower()
    if any(not math.isnan(low) for low in intervals.lows):
        axes.set_xlabel(f"Mean best {name} of the runs")
        axes.set_title("Mean and 95% interval over runs")
    else:
        axes.set_xlabel(f"Best {name}")
        axes.set_title("Each trial's one run (no interval: run with --repeats)")
    axes.grid(alpha=0.3, axis="x")
    if axes.get_legend_handles_labels()[0]:
        axes.legend(loc="best", fontsize="small")
    figure.suptitle(subtitle, fontsize="small")
    return figure


def write_figure(path: Path, figure) -> Path:
    """Saves `figure` as a PNG at `path`; a reader sees it whole or not at all."""
    with atomic_file(path) as file:
        figure.savefig(file, dpi=110, format="png")
    return path


def write_figures(
    run_dir: RunDir, analysis: Analysis, top: int = DEFAULT_TOP
) -> list[Path]:
    """Writes the five figures of the trials into `RUN_DIR/plots/`; returns
    the files written, none when no trial has finished an epoch."""
    trials = analysis.top(top)
    if not trials:
        return []
    objective = analysis.objective.name
    subtitle = analysis.settings.protocol_description
    colors = trial_colors([t.label for t in trials])
    drawn = tuple(reversed(METRICS))  # accuracy first, as the notebook drew them
    figures = {
        f"val_{metric}": draw_curves(
            validation_curves(trials, f"val_{metric}"), colors, subtitle
        )
        for metric in drawn
    }
    for metric in drawn:
        panels = overfitting_panels(trials, metric, objective)
        figures[f"overfitting_{metric}"] = draw_panels(panels, metric, colors, subtitle)
    figures["comparison"] = draw_intervals(
        comparison_intervals(analysis, trials), colors, subtitle
    )
    return [write_figure(run_dir.figure(name), f) for name, f in figures.items()]


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
