"""`report.md`: a run's settings, verdicts, comparisons, what matters (after
a wider search), results and figures; and `compare.md`, two studies compared.

It renders an `tuning.analysis.Analysis` and its `tuning.importance.Importance`,
or a `tuning.two_studies.TwoStudies`; every number in it is one they
computed, and a difference or a share is never stated without its interval.
"""

from __future__ import annotations

import collections
import math
from pathlib import Path

from tuning import verdicts
from tuning.analysis import Analysis, TrialResult
from tuning.importance import (
    FAR_OUT,
    FEWEST_TRIALS,
    TRIALS_PER_HYPERPARAMETER,
    Importance,
    Share,
    Slice,
)
from tuning.run_dir import RunDir, write_text_atomically
from tuning.tables import SUMMARY_COLUMNS, format_cell, pair_rows, result_row
from tuning.two_studies import TwoStudies

# The grid's pair of identical configurations: their gap is seed noise.
NOISE_PAIR = ("Baseline", "64 Units")


def verdict_summary(analysis: Analysis) -> list[str]:
    """Sentences on each comparison with the reference, every difference
    with its interval; with one run per trial, why no verdict is possible."""
    settings, objective = analysis.settings, analysis.objective.name
    compared = analysis.compared
    if not settings.gives_verdicts:
        return _no_verdict(analysis)
    if not compared:
        return [
            f"No comparison yet: {analysis.reference or 'the reference'} and at "
            "least one other trial must complete their runs first."
        ]
    reference, schedule = analysis.reference, analysis.schedule
    lines = [
        f"Compared with **{reference}** on {objective} (each run's best), "
        f"margin D = {settings.margin:g}: the difference of means with its "
        + _method(f"{schedule.comparisons} comparison(s) and {schedule.looks} look(s)"),
        "",
    ]
    for verdict in verdicts.DECIDED:
        for trial in (t for t in compared if t.comparison.verdict == verdict):
            result = trial.comparison
            lines.append(
                f"- **{trial.label}** is {verdict}"
                f"{' to' if verdict == verdicts.EQUIVALENT else ' than'} "
                f"{reference}: {result.difference:+.4f} "
                f"{_bounds(result.ci_low, result.ci_high, signed=True)}, "
                f"P(A>B) = {format_cell(result.p_beats, digits=2)}"
                + _when(trial, analysis)
                + (f" ({result.interval} interval: {result.why})" if result.why else "")
                + "."
            )
    still_open = [t for t in compared if t.comparison.verdict not in verdicts.DECIDED]
    if still_open:
        lines.append(
            "- Undecided: "
            + "; ".join(_undecided(t, settings.margin) for t in still_open)
            + "."
        )
    if not any(t.comparison.verdict == verdicts.BETTER for t in compared):
        lines.append(f"No trial is better than {reference}: no winner is named.")
    if settings.max_repeats:
        lines += ["", _rounds(analysis)]
    return lines


def _undecided(trial: TrialResult, margin: float) -> str:
    """An undecided trial: why, and the runs planned at the margin."""
    runs, result = len(trial.runs), trial.comparison
    return (
        f"{trial.label} ({runs} runs: {verdicts.why_undecided(result, margin, runs)}; "
        f"planned at the margin, {verdicts.runs_needed_cell(result)} runs per "
        "trial would decide it)"
    )


def _when(trial: TrialResult, analysis: Analysis) -> str:
    if not analysis.settings.max_repeats:
        return ""
    return f", decided in round {trial.decided_in} with {len(trial.runs)} runs"


def _rounds(analysis: Analysis) -> str:
    """What `--repeats auto` spent: runs per round and in all."""
    schedule = analysis.schedule
    reference = next(t for t in analysis.trials if t.label == analysis.reference)
    total = sum(len(t.runs) for t in analysis.trials)
    uniform = schedule.trial_runs[-1] * len(analysis.trials)
    return (
        f"Rounds (`--repeats auto`, up to {analysis.settings.max_repeats} runs "
        f"a trial): a trial's runs at each look {list(schedule.trial_runs)}, "
        f"the reference's {list(schedule.reference_runs)} (about the square "
        f"root of {schedule.comparisons} times as many: it is in every "
        f"comparison). {analysis.reference} trained {len(reference.runs)} runs; "
        f"{total} runs in all, against {uniform} for "
        f"`--repeats {schedule.trial_runs[-1]}` for every trial."
    )


def _no_verdict(analysis: Analysis) -> list[str]:
    lines = [
        "One run per trial: no verdict is possible, since a difference "
        "between two single runs cannot be told apart from seed noise. "
        "Run with `--repeats 5` or more."
    ]
    pair = {t.label: t for t in analysis.trained if t.label in NOISE_PAIR}
    if len(pair) == 2:
        metric = analysis.objective
        first, second = (metric.best(pair[n].history[metric.name]) for n in NOISE_PAIR)
        lines.append(
            f'Noise yardstick: Baseline and "64 Units", the same configuration '
            f"from other seeds, differ by {second - first:+.4f} in best {metric}."
        )
    return lines


def study_summary(analysis: Analysis) -> list[str]:
    """Sentences about the study: the verdicts against the reference, the
    epoch at which each trial's objective peaked, and the train/validation
    accuracy gap at the last epoch."""
    trained = analysis.trained
    if not trained:
        return ["No trial has finished an epoch yet."]
    gaps = {
        t.label: t.history["accuracy"][-1] - t.history["val_accuracy"][-1]
        for t in trained
    }
    widest = max(gaps, key=gaps.get)
    return [
        *verdict_summary(analysis),
        "",
        f"Epoch of best {analysis.objective}: "
        + "; ".join(f"{t.label}: {t.best_epoch}" for t in trained)
        + ".",
        "",
        "Train minus validation accuracy at the last epoch: "
        + "; ".join(f"{label}: {gap:.4f}" for label, gap in gaps.items())
        + ".",
        "",
        f"Widest gap (most overfitting): **{widest}**, {gaps[widest]:.4f}."
        if gaps[widest] > 0
        else "No trial's training accuracy is above its validation accuracy at "
        "the last epoch: none overfits.",
    ]


def comparison_table(analysis: Analysis) -> list[str]:
    """Markdown rows: each trial's mean objective with its interval, and its
    difference from the reference with interval, P(A>B) and verdict."""
    lines = [
        "| trial | runs | mean | 95% CI | difference | simultaneous 95% CI "
        "| interval | P(A>B) | verdict | decided in round | runs needed |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for trial in analysis.trials:
        if trial.runs:
            summary = trial.summaries["objective"]
            cells = [trial.label, len(trial.runs), f"{summary.mean:.4f}"]
            cells.append(_bounds(summary.ci_low, summary.ci_high))
            cells += _comparison_cells(trial, trial.label == analysis.reference)
            lines.append("| " + " | ".join(map(str, cells)) + " |")
    return lines


def _comparison_cells(trial: TrialResult, is_reference: bool) -> list[str]:
    """Difference, its interval and which, P(A>B), verdict, its round, runs
    needed."""
    if is_reference:
        return ["reference", "", "", "", "", "", ""]
    result = trial.comparison
    if result is None:
        return ["", "", "", "", "", "", ""]
    return [
        f"{result.difference:+.4f}",
        _bounds(result.ci_low, result.ci_high, signed=True),
        result.interval,
        format_cell(result.p_beats, digits=2),
        result.verdict,
        str(trial.decided_in or ""),
        verdicts.runs_needed_cell(result),
    ]


def _bounds(low: float, high: float, signed: bool = False) -> str:
    """An interval as `[low, high]`; empty where it is undefined (one run)."""
    if math.isnan(low):
        return ""
    sign = "+" if signed else ""
    return f"[{low:{sign}.4f}, {high:{sign}.4f}]"


def results_table(analysis: Analysis) -> list[str]:
    """Markdown rows: each trial's hyperparameters and mean-curve metrics."""
    rows = [result_row(trial, analysis) for trial in analysis.trials]
    hyperparameters = dict.fromkeys(
        k for t in analysis.trials for k in t.record.hyperparameters
    )
    columns = ["label", *hyperparameters, "status", "epochs"]
    columns += ["best_val_accuracy", "best_epoch", "final_accuracy"]
    columns += ["final_val_accuracy", "final_val_loss"]
    if any("test_accuracy" in row for row in rows):
        columns += ["test_accuracy", "test_loss"]
    return [
        "| " + " | ".join(columns) + " |",
        "|" + "---|" * len(columns),
        *("| " + " | ".join(_cell(row, c) for c in columns) + " |" for row in rows),
    ]


def _cell(row: dict, column: str) -> str:
    """Metrics to 4 decimals; hyperparameters as given (0.001, not 0.0010)."""
    value = row.get(column, "")
    return format_cell(value) if column in SUMMARY_COLUMNS else str(value)


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


def write_report(
    run_dir: RunDir,
    analysis: Analysis,
    figures: list[Path],
    importance: Importance | None = None,
) -> str:
    """Writes `report.md`: settings, summary, comparisons, what matters,
    results and figures; returns its text, for the other places it shows."""
    settings = analysis.settings
    objective = settings.objective
    lines = [
        f"# Study report: {run_dir.root.name}",
        "",
        f"Mode `{settings.mode}`, {settings.epochs} epochs per trial, "
        f"{settings.repeats} run(s) per trial from seed {settings.seed}, batch "
        f"{settings.batch_size}, backend `{settings.backend}`, data `{settings.data}`"
        + (f", first {settings.limit} reviews per split" if settings.limit else "")
        + ".",
        f"Objective: `{objective}` ({objective.direction}imized); best epochs, "
        f"rankings and comparisons follow it. Margin: {settings.margin:g}.",
        f"Protocol: {settings.protocol_description}.",
        "",
        "## Summary",
        "",
        *study_summary(analysis),
        "",
        f"## Comparisons ({objective}, each run's best)",
        "",
        *comparison_table(analysis),
        "",
        *(
            ["## What matters", "", *what_matters(analysis, importance), ""]
            if importance
            else []
        ),
        "## Results (the mean curve of each trial)",
        "",
        *results_table(analysis),
        "",
        "## Figures",
        "",
        *(
            f"![{path.stem}]({path.relative_to(run_dir.root).as_posix()})\n"
            for path in figures
        ),
    ]
    report = "\n".join(lines)
    write_text_atomically(run_dir.report, report)
    return report


def write_pair_report(path: Path, two: TwoStudies, figure: Path | None) -> Path:
    """Writes `compare.md`: the two studies, what differs between them,
    each matched trial's verdict with its interval, and the figure."""
    first, second = two.names
    objective = two.a.objective
    lines = [
        f"# {second} against {first}",
        "",
        f"- A: `{first}`: {_study_line(two.a)}",
        f"- B: `{second}`: {_study_line(two.b)}",
        "",
        *_pair_differences(two),
        "",
        f"For each configuration trained in both, B's runs against A's on "
        f"{objective} (each run's best), margin D = {two.margin:g}: the "
        "difference of means, B minus A, with its "
        + _method(f"{len(two.pairs)} pair(s)"),
        "",
        "| trial | runs A | runs B | mean A | mean B | B - A | simultaneous 95% CI "
        "| interval | P(B>A) | verdict | runs needed |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in pair_rows(two):  # compare.csv's rows
        interval = _bounds(
            row["difference_ci_low"], row["difference_ci_high"], signed=True
        )
        lines.append(
            f"| {row['label']} | {row['runs_a']} | {row['runs_b']} | "
            f"{row['mean_a']:.4f} | {row['mean_b']:.4f} | "
            f"{row['difference']:+.4f} | {interval} | {row['interval']} | "
            f"{format_cell(row['p_b_beats_a'], digits=2)} | {row['verdict']} | "
            f"{row['repeats_needed']} |"
        )
    counts = collections.Counter(p.comparison.verdict for p in two.pairs)
    lines += [
        "",
        "In all: "
        + ", ".join(f"{counts[v]} {v}" for v in verdicts.ALL if counts[v])
        + ".",
    ]
    if two.only_a or two.only_b:
        lines.append(
            f"Not matched: only in A {two.only_a or 'none'}; only in B "
            f"{two.only_b or 'none'}."
        )
    if figure:
        lines += ["", f"![{figure.stem}]({figure.name})"]
    write_text_atomically(path, "\n".join(lines) + "\n")
    return path


def _study_line(analysis: Analysis) -> str:
    settings = analysis.settings
    runs = f"up to {settings.max_repeats}" if settings.max_repeats else settings.repeats
    return (
        f"mode {settings.mode}, backend {settings.backend}, seed {settings.seed}, "
        f"{settings.epochs} epochs, {runs} runs a trial; "
        f"{settings.protocol_description}."
    )


def _pair_differences(two: TwoStudies) -> list[str]:
    """What differs between the two studies, the measurement first."""
    if not two.differences:
        return ["The two studies' settings are the same."]
    text = "; ".join(f"{name} {a} vs {b}" for name, (a, b) in two.differences.items())
    lines = [f"Settings that differ: {text}."]
    if two.measurement_differences:
        lines.append(
            "**These change what the objective measures: "
            + ", ".join(two.measurement_differences)
            + ". The verdicts below compare two measurements, not one training "
            "under a change.**"
        )
    return lines


def _method(family: str) -> str:
    """How every verdict is reached, after "the difference of means with its":
    the interval over the `family` of comparisons, and the rule."""
    return (
        f"simultaneous 95% interval over {family} ({verdicts.INTERVALS}; "
        "docs/statistics.md). " + verdicts.RULE
    )
