"""A run's figures as PNG files in `RUN_DIR/plots/`.

- `val_accuracy.png`, `val_loss.png`: the notebook's two figures, one line
  per trial (with repeats: each trial's mean, with its 95% band);
- `overfitting_accuracy.png`, `overfitting_loss.png`: small multiples, one
  panel per trial, train against validation, the best epoch marked;
- `comparison.png`: each trial's mean best validation accuracy with its 95%
  interval as a dot and whiskers, the reference trial's interval shaded.

Every trial keeps one colour across all figures. Searches with more trials
than `--top` draw the best ones by validation accuracy. Computing what to
draw (`validation_curves`, `overfitting_panels`) is kept apart from drawing
it (`draw_curves`, `draw_panels`, `draw_intervals`). `python -m tuning.plot`
is the command line over `write_plots`.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import NamedTuple

from tuning import statistics
from tuning.reports import (
    describe_protocol,
    reference_label,
    result_row,
    run_objectives,
)
from tuning.run_dir import RunDir, atomic_file
from tuning.settings import StudySettings
from tuning.trials import TrialRecord, best_epoch, epoch_numbers, load_trials

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
    """Each trial's mean of a per-run metric with its 95% interval.

    Attributes:
        metric: the per-run metric, e.g. `best_val_accuracy`.
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


class Panel(NamedTuple):
    """One trial's train and validation curves of a metric, and its best epoch."""

    label: str
    epochs: list[int]
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
    """Collects `metric` per epoch for every trial that has finished an epoch,
    with a 95% band where the trial has more than one run."""
    drawn = [r for r in records if r.history.get(metric)]
    return Curves(
        metric,
        [r.label for r in drawn],
        [epoch_numbers(r.history) for r in drawn],
        [r.history[metric] for r in drawn],
        [_band(r, metric) for r in drawn],
    )


def _band(record: TrialRecord, metric: str):
    if len(record.runs) < 2:
        return None
    epochs = len(record.history[metric])
    summaries = [
        statistics.summarize([run.history[metric][epoch] for run in record.runs])
        for epoch in range(epochs)
    ]
    return [s.ci_low for s in summaries], [s.ci_high for s in summaries]


def comparison_intervals(
    records: list[TrialRecord], settings: StudySettings
) -> Intervals:
    """Each trial's mean best validation accuracy over its finished repeats,
    with its 95% interval, and the reference trial."""
    metric = "best_val_accuracy"
    rows = [result_row(r, settings) for r in records if r.finished_runs]
    return Intervals(
        metric,
        [row["label"] for row in rows],
        [row[f"{metric}_mean"] for row in rows],
        [row[f"{metric}_ci_low"] for row in rows],
        [row[f"{metric}_ci_high"] for row in rows],
        reference_label(run_objectives(records, settings), settings),
    )


def overfitting_panels(records: list[TrialRecord], metric: str) -> list[Panel]:
    """Train vs validation `metric` per trial; best epoch by validation accuracy."""
    return [
        Panel(
            label=r.label,
            epochs=epoch_numbers(r.history),
            train=r.history[metric],
            validation=r.history[f"val_{metric}"],
            best_epoch=best_epoch(r.history, OBJECTIVE),
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


def draw_intervals(intervals: Intervals, colors: dict, subtitle: str = ""):
    """One row per trial: its mean as a dot and its 95% interval as whiskers,
    the reference's interval shaded across the figure; returns the Figure."""
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
        if not math.isnan(low):
            axes.hlines(row, low, high, color=colors[label], linewidth=2)
        axes.plot(mean, row, "o", color=colors[label], markersize=7)
    axes.set_yticks(list(rows), intervals.labels)
    axes.invert_yaxis()
    axes.set_xlabel(f"Mean {TITLES['val_accuracy'].lower()} (best epoch of each run)")
    axes.set_title("Mean and 95% interval over repeats")
    axes.grid(alpha=0.3, axis="x")
    if intervals.reference is not None and any(
        label == intervals.reference and not math.isnan(low)
        for label, low in zip(intervals.labels, intervals.lows, strict=True)
    ):
        axes.legend(loc="best", fontsize="small")
    figure.suptitle(subtitle, fontsize="small")
    return figure


def write_plots(
    run_dir: RunDir, settings: StudySettings, top: int = DEFAULT_TOP
) -> list[Path]:
    """Writes the five figures into `RUN_DIR/plots/`; returns the files
    written, none when no trial has finished an epoch."""
    records = select_trials(load_trials(run_dir), top)
    if not records:
        return []
    subtitle = describe_protocol(settings)
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
    figures["comparison.png"] = draw_intervals(
        comparison_intervals(records, settings), colors, subtitle
    )
    for name, figure in figures.items():
        with atomic_file(run_dir.plots / name) as file:  # a reader sees it whole
            figure.savefig(file, dpi=110, format="png")
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
