"""What matters after a wider search, rendered: `importance.csv` (one row
per hyperparameter), the report's "What matters" section, and the figures
`importance.png` and `slices.png`.

Each renders a `tuning.importance.Importance`, computed once per study by
`tuning.importance.assess`; none assesses anything itself.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import NamedTuple

from tuning.analysis import Analysis
from tuning.figures import TITLES, write_figure
from tuning.importance import (
    FAR_OUT,
    FEWEST_TRIALS,
    TRIALS_PER_HYPERPARAMETER,
    Importance,
    Share,
    Slice,
)
from tuning.run_dir import RunDir
from tuning.tables import format_cell, write_csv


def write_importance_table(run_dir: RunDir, importance: Importance | None) -> None:
    """Writes `importance.csv` where importance was assessed; removes it
    where it was not, so that it never disagrees with the report."""
    if importance and importance.shares:
        write_csv(run_dir.importance_csv, importance_rows(importance))
    else:
        run_dir.importance_csv.unlink(missing_ok=True)


def importance_rows(importance: Importance) -> list[dict]:
    """One row per hyperparameter assessed, largest share first; a
    conditional rate's rows last, with the trials it was assessed among."""
    scales = {s.axis.name: s.axis.scale for s in importance.slices}
    return [
        {
            "rank": rank,
            "hyperparameter": share.name,
            "share": share.share,
            "ci_low": share.low,
            "ci_high": share.high,
            "trials": share.trials,
            "among": f"{share.condition} = True" if share.condition else "all trials",
            "scale": scales[share.name],
        }
        for rank, share in enumerate(importance.shares, start=1)
    ]


# The shares whose direction the report puts in words.
DIRECTIONS = 3

# Below this p-value a direction is stated; above it, said to be unclear.
CLEAR = 0.05


def what_matters(analysis: Analysis, importance: Importance) -> list[str]:
    """The "What matters" section: each share with its interval, whether
    one is clearly ahead, how conditional rates were assessed, and the
    direction of the largest effects in words."""
    if importance.same_score is not None:
        return [
            f"Every one of the {importance.trials} completed trials scored the "
            f"same {analysis.objective} ({importance.same_score:.4f}): there is no "
            "variance for a hyperparameter to explain, so no share is given."
        ]
    if not importance.shares:
        return [
            f"Importance needs at least {importance.needed} completed trials "
            f"({TRIALS_PER_HYPERPARAMETER} per hyperparameter, "
            f"{FEWEST_TRIALS} at least); this search has "
            f"{importance.trials}. Run with `--max-trials {importance.needed}` "
            "or more."
        ]
    objective = analysis.objective.name
    overall = [s for s in importance.shares if s.condition is None]
    lines = [
        f"The share of the variance of {objective} each hyperparameter explains "
        f"alone (fANOVA, by Optuna) over {importance.trials} completed trials, "
        "each its mean over its runs, with a 95% interval over "
        f"{importance.resamples} resamples of the trials and forest seeds. "
        f"These shares sum to {sum(s.share for s in overall):.2f}; the rest is "
        "the hyperparameters' interactions.",
        "",
        "| rank | hyperparameter | share | 95% interval | trials |",
        "|---|---|---|---|---|",
        *(
            f"| {rank} | {_share_name(s)} | {s.share:.3f} | "
            f"[{s.low:.3f}, {s.high:.3f}] | {s.trials} |"
            for rank, s in enumerate(importance.shares, start=1)
        ),
        "",
    ]
    leader = importance.leader
    if leader:
        lines.append(
            f"**{leader.name}** is clearly ahead: its interval lies above every "
            "other hyperparameter's."
        )
    else:
        lines.append(
            "No hyperparameter is clearly ahead: the largest share's interval "
            "overlaps another's."
        )
    for paragraph in [*_conditions(analysis, importance), *_far_out(importance)]:
        lines += ["", paragraph]
    slices = {s.axis.name: s for s in importance.slices}
    lines += ["", "Directions of the largest effects (figure `slices`):", ""]
    for share in importance.shares[:DIRECTIONS]:
        lines.append(f"- {_direction(slices[share.name], analysis)}")
    return lines


def _far_out(importance: Importance) -> list[str]:
    """The trials far from the others, and what they have in common."""
    if not importance.far_out:
        return []
    text = (
        f"Far from the others (beyond {FAR_OUT:g} interquartile ranges): "
        + ", ".join(f"{t.label} ({t.mean:.4f})" for t in importance.far_out)
        + ". A trial like this can carry most of the variance by itself: the "
        "shares say which hyperparameters set it apart; the slices show where "
        "it lies."
    )
    common = importance.far_out_in_common()
    if common:
        text += (
            " They have in common "
            + ", ".join(f"{name} = {value}" for name, value in common.items())
            + ": a combination, which no single share shows."
        )
    return [text]


def _share_name(share: Share) -> str:
    if share.condition is None:
        return share.name
    return f"{share.name} (among trials with {share.condition})"


def _conditions(analysis: Analysis, importance: Importance) -> list[str]:
    """How conditional rates, Hyperband budgets and Bayesian sampling shape
    the shares."""
    lines = []
    rates = [s.axis for s in importance.slices if s.axis.condition]
    if rates:
        lines.append(
            "Conditional rates: "
            + ", ".join(f"{a.name} exists only when {a.condition}" for a in rates)
            + ". Whether each is on is assessed over all trials; a rate among "
            "the trials that have it (its share is of the variance among them)."
            + "".join(
                f" {name}: {having} trials have it, {needed} are needed; not assessed."
                for name, (having, needed) in importance.too_few.items()
            )
        )
    sampling = analysis.settings.search_mode.sampling
    if sampling:
        lines.append(sampling.format(epochs=analysis.settings.epochs))
    return lines


def _direction(piece: Slice, analysis: Analysis) -> str:
    """One effect's direction in words, with the statistic it rests on."""
    objective = analysis.objective
    name, p_value = piece.axis.name, format_cell(piece.p_value, digits=2)
    if piece.correlation is None:
        by_value = piece.means_by_value()
        ranked = sorted(by_value, key=lambda v: by_value[v][0])
        if objective.higher_is_better:
            ranked.reverse()
        best, worst = ranked[0], ranked[-1]
        if not piece.p_value < CLEAR:  # NaN too: too few trials to test
            means = ", ".join(
                f"{value} {by_value[value][0]:.4f} ({by_value[value][1]} trials)"
                for value in ranked
            )
            return (
                f"{name}: no clear difference between its values ({means}; "
                f"Kruskal-Wallis p = {p_value})."
            )
        return (
            f"{name}: {best} scores best (mean {by_value[best][0]:.4f}, "
            f"{by_value[best][1]} trials), {worst} worst (mean "
            f"{by_value[worst][0]:.4f}, {by_value[worst][1]} trials); "
            f"Kruskal-Wallis p = {p_value}."
        )
    if math.isnan(piece.correlation):
        return f"{name}: too few trials for a direction."
    if not piece.p_value < CLEAR:
        return (
            f"{name}: no clear direction (Spearman rho = {piece.correlation:+.2f}, "
            f"p = {p_value}, {len(piece.values)} trials)."
        )
    better = "better" if objective.gain(piece.correlation) > 0 else "worse"
    return (
        f"{name}: higher values go with {better} {objective} (Spearman "
        f"rho = {piece.correlation:+.2f}, p = {p_value}, {len(piece.values)} "
        "trials)."
    )


def share_label(name: str, condition: str | None, trials: int) -> str:
    """A share's name; a conditional rate's says among which trials."""
    return f"{name}\n(the {trials} trials with {condition})" if condition else name


class Bars(NamedTuple):
    """What the importance figure draws: one bar per share, largest first.

    Attributes:
        labels: each share's name (`share_label`).
        shares: the bars' lengths.
        below, above: the whiskers' lengths either side of a bar's end (an
            estimate at its interval's edge has none on that side).
        conditional: whether each is a rate assessed among some trials.
    """

    labels: list[str]
    shares: list[float]
    below: list[float]
    above: list[float]
    conditional: list[bool]


def importance_bars(importance: Importance) -> Bars:
    """The importance figure's bars, computed apart from drawing them."""
    shares = importance.shares
    return Bars(
        [share_label(s.name, s.condition, s.trials) for s in shares],
        [s.share for s in shares],
        [max(s.share - s.low, 0) for s in shares],
        [max(s.high - s.share, 0) for s in shares],
        [s.condition is not None for s in shares],
    )


class SlicePoints(NamedTuple):
    """Where one slice's trials go: `x` a value's position (a choice's
    trials spread across their choice's place), `ticks` a choice's place
    and label (empty for a number), and each trial's mean objective with
    its interval (NaN bounds for one run)."""

    x: list[float]
    means: list[float]
    lows: list[float]
    highs: list[float]
    ticks: dict[str, float]


def slice_points(piece: Slice) -> SlicePoints:
    """One slice's points, computed apart from drawing them."""
    if piece.axis.choices is None:
        x, ticks = list(piece.values), {}
    else:
        places = {value: i for i, value in enumerate(piece.axis.choices)}
        counts = {value: piece.values.count(value) for value in places}
        seen = dict.fromkeys(places, 0)
        x = []
        for value in piece.values:
            spread = 0.3 * (seen[value] / max(counts[value] - 1, 1) - 0.5)
            x.append(places[value] + (spread if counts[value] > 1 else 0))
            seen[value] += 1
        ticks = {str(value): place for value, place in places.items()}
    return SlicePoints(x, piece.means, piece.lows, piece.highs, ticks)


def draw_importance(importance: Importance, objective: str, subtitle: str = ""):
    """One bar per hyperparameter: its share, whiskers its interval;
    returns the Figure."""
    from matplotlib.figure import Figure

    bars = importance_bars(importance)
    figure = Figure(figsize=(8, 1.5 + 0.5 * len(bars.labels)), layout="constrained")
    axes = figure.subplots()
    rows = list(range(len(bars.labels)))
    axes.barh(
        rows,
        bars.shares,
        xerr=[bars.below, bars.above],
        color=["tab:orange" if c else "tab:blue" for c in bars.conditional],
        capsize=3,
    )
    axes.set_yticks(rows, bars.labels)
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
    axis, points = piece.axis, slice_points(piece)
    if points.ticks:
        axes.set_xticks(list(points.ticks.values()), list(points.ticks))
    elif axis.log:
        _log_axis(axes.xaxis, axis.integer)
    elif axis.integer:
        from matplotlib.ticker import MaxNLocator

        axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    bounded = [i for i, low in enumerate(points.lows) if not math.isnan(low)]
    if bounded:
        axes.vlines([points.x[i] for i in bounded], [points.lows[i] for i in bounded],
                    [points.highs[i] for i in bounded], color="tab:blue",
                    alpha=0.4)  # fmt: skip
    axes.plot(points.x, points.means, "o", color="tab:blue", markersize=4)
    title = axis.name + (f" (share {share:.2f})" if share is not None else "")
    if axis.condition:
        title += f"\nonly trials with {axis.condition}"
    axes.set_title(title, fontsize="medium")
    axes.set_xlabel(axis.name + (" (log scale)" if axis.log else ""))
    axes.grid(alpha=0.3)


def _log_axis(axis, integer: bool) -> None:
    """A log scale labelled at its decades; an integer's (16 to 256) also at
    2 and 5 times them, as plain numbers."""
    from matplotlib.ticker import FormatStrFormatter, LogLocator, NullFormatter

    axis.axes.set_xscale("log")
    axis.set_minor_formatter(NullFormatter())
    if integer:
        axis.set_major_locator(LogLocator(subs=(1, 2, 5)))
        axis.set_major_formatter(FormatStrFormatter("%g"))


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
