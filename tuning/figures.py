"""A run's figures as PNG files in `RUN_DIR/plots/`.

- `val_accuracy.png`, `val_loss.png`: the notebook's two figures, one line
  per trial (with repeats: each trial's mean, with its 95% band);
- `overfitting_accuracy.png`, `overfitting_loss.png`: small multiples, one
  panel per trial, train against validation, the objective's best epoch
  starred;
- `comparison.png`: each trial's mean objective with its 95% interval as a
  dot and whiskers, the reference trial's interval shaded;
- after a wider search, `importance.png` (each hyperparameter's share with
  its interval) and `slices.png` (each trial's objective against each
  hyperparameter), written apart (`write_importance_figures`), so that
  `tuning.plot` redraws the others without assessing importance again.

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

from tuning import verdicts
from tuning.analysis import Analysis, TrialResult
from tuning.importance import Importance, Slice
from tuning.objective import METRICS
from tuning.run_dir import RunDir, atomic_file
from tuning.two_studies import TwoStudies

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


def share_label(name: str, condition: str | None, trials: int) -> str:
    """A share's name; a conditional rate's says among which trials."""
    return f"{name}\n(the {trials} trials with {condition})" if condition else name


def draw_importance(importance: Importance, objective: str, subtitle: str = ""):
    """One bar per hyperparameter: its share, whiskers its interval;
    returns the Figure."""
    from matplotlib.figure import Figure

    shares = importance.shares
    figure = Figure(figsize=(8, 1.5 + 0.5 * len(shares)), layout="constrained")
    axes = figure.subplots()
    rows = range(len(shares))
    conditional = [s.condition is not None for s in shares]
    axes.barh(
        list(rows),
        [s.share for s in shares],
        xerr=[
            [max(s.share - s.low, 0) for s in shares],
            [max(s.high - s.share, 0) for s in shares],
        ],
        color=["tab:orange" if c else "tab:blue" for c in conditional],
        capsize=3,
    )
    axes.set_yticks(
        list(rows), [share_label(s.name, s.condition, s.trials) for s in shares]
    )
    axes.invert_yaxis()
    axes.set_xlim(0, 1)
    axes.set_xlabel(f"Share of the variance of {objective} it explains alone")
    axes.set_title(
        f"What matters: fANOVA over {importance.trials} trials\n"
        "bar: estimate; whiskers: 95% interval over resampled trials",
        fontsize="medium",
    )
    axes.grid(alpha=0.3, axis="x")
    figure.suptitle(subtitle, fontsize="small")
    return figure


def draw_slices(importance: Importance, objective: str, subtitle: str = ""):
    """Small multiples, one per hyperparameter: every trial's objective
    against its value, with its runs' interval; returns the Figure."""
    from matplotlib.figure import Figure

    slices = [s for s in importance.slices if s.values]
    shares = {s.name: s.share for s in importance.shares}
    columns = min(3, len(slices))
    rows = math.ceil(len(slices) / columns)
    figure = Figure(figsize=(4 * columns, 3 * rows), layout="constrained")
    grid = figure.subplots(rows, columns, sharey=True, squeeze=False)
    for axes, piece in zip(grid.flat, slices, strict=False):
        _draw_slice(axes, piece, shares.get(piece.axis.name))
        axes.set_ylabel(TITLES.get(objective, objective))
    for axes in grid.flat[len(slices) :]:
        axes.set_visible(False)
    figure.suptitle(
        f"Each trial's mean best {objective} against each hyperparameter "
        f"(whiskers: 95% interval over its runs). {subtitle}",
        fontsize="small",
    )
    return figure


def _draw_slice(axes, piece: Slice, share: float | None) -> None:
    axis = piece.axis
    if axis.choices is None:
        x = piece.values
        if axis.log:
            _log_axis(axes.xaxis, axis.integer)
        elif axis.integer:
            from matplotlib.ticker import MaxNLocator

            axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    else:
        # Each choice at its own position, its trials spread across it.
        positions = {value: i for i, value in enumerate(axis.choices)}
        counts = {value: piece.values.count(value) for value in positions}
        seen = dict.fromkeys(positions, 0)
        x = []
        for value in piece.values:
            spread = 0.3 * (seen[value] / max(counts[value] - 1, 1) - 0.5)
            x.append(positions[value] + (spread if counts[value] > 1 else 0))
            seen[value] += 1
        axes.set_xticks(list(positions.values()), [str(v) for v in positions])
    bounded = [i for i, low in enumerate(piece.lows) if not math.isnan(low)]
    if bounded:
        axes.vlines([x[i] for i in bounded], [piece.lows[i] for i in bounded],
                    [piece.highs[i] for i in bounded], color="tab:blue",
                    alpha=0.4)  # fmt: skip
    axes.plot(x, piece.means, "o", color="tab:blue", markersize=4)
    title = axis.name + (f" (share {share:.2f})" if share is not None else "")
    if axis.condition:
        title += f"\nonly trials with {axis.condition}"
    axes.set_title(title, fontsize="medium")
    axes.set_xlabel(axis.name + (" (log scale)" if axis.log else ""))
    axes.grid(alpha=0.3)


VERDICT_COLORS = {
    verdicts.BETTER: "tab:green",
    verdicts.WORSE: "tab:red",
    verdicts.EQUIVALENT: "tab:blue",
}


def draw_differences(two: TwoStudies):
    """One row per matched trial: B minus A as a dot, its simultaneous
    interval as whiskers, 0 and plus or minus the margin marked; returns
    the Figure."""
    from matplotlib.figure import Figure

    pairs = two.pairs
    figure = Figure(figsize=(8, 1.8 + 0.45 * len(pairs)), layout="constrained")
    axes = figure.subplots()
    axes.axvspan(-two.margin, two.margin, fill=False, hatch="//",
                 edgecolor="tab:green", linewidth=0, alpha=0.5,
                 label=f"± margin {two.margin:g}")  # fmt: skip
    axes.axvline(0, color="grey", linewidth=0.8)
    for row, pair in enumerate(pairs):
        result = pair.comparison
        color = VERDICT_COLORS.get(result.verdict, "tab:grey")
        if not math.isnan(result.ci_low):
            axes.hlines(row, result.ci_low, result.ci_high, color=color, linewidth=2)
        axes.plot(result.difference, row, "o", color=color, markersize=7)
    axes.set_yticks(
        list(range(len(pairs))),
        [f"{p.label}: {p.comparison.verdict}" for p in pairs],
    )
    axes.invert_yaxis()
    objective = TITLES.get(two.a.objective.name, two.a.objective.name).lower()
    axes.set_xlabel(f"B minus A: difference of mean best {objective}")
    axes.set_title(f"{two.names[1]} (B) against {two.names[0]} (A)", fontsize="medium")
    axes.grid(alpha=0.3, axis="x")
    figure.legend(loc="outside lower center", fontsize="small")
    figure.suptitle(
        f"Whiskers: simultaneous 95% interval over {len(pairs)} pair(s)",
        fontsize="small",
    )
    return figure


def _log_axis(axis, integer: bool) -> None:
    """A log scale labelled at its decades; an integer's (16 to 256) also at
    2 and 5 times them, as plain numbers."""
    from matplotlib.ticker import FormatStrFormatter, LogLocator, NullFormatter

    axis.axes.set_xscale("log")
    axis.set_minor_formatter(NullFormatter())
    if integer:
        axis.set_major_locator(LogLocator(subs=(1, 2, 5)))
        axis.set_major_formatter(FormatStrFormatter("%g"))


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


def write_importance_figures(
    run_dir: RunDir, analysis: Analysis, importance: Importance | None
) -> list[Path]:
    """Writes a wider search's `importance.png` (where assessed) and
    `slices.png` into `RUN_DIR/plots/`, and removes an earlier one that this
    assessment has not drawn; returns the files written."""
    objective = analysis.objective.name
    subtitle = analysis.settings.protocol_description
    figures = {}
    if importance and importance.shares:
        figures["importance"] = draw_importance(importance, objective, subtitle)
    if importance and any(s.values for s in importance.slices):
        figures["slices"] = draw_slices(importance, objective, subtitle)
    for name in {"importance", "slices"} - set(figures):
        run_dir.figure(name).unlink(missing_ok=True)  # never left to disagree
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
