"""`report.md`: a run's settings, verdicts, comparisons, what matters (after
a wider search, `tuning.importance_outputs`), results and figures.

It renders an `tuning.analysis.Analysis` and its `tuning.importance.Importance`;
every number in it is one they computed, and a difference or a share is
never stated without its interval.
"""

from __future__ import annotations

from pathlib import Path

from tuning import verdicts
from tuning.analysis import Analysis, TrialResult
from tuning.files import write_text_atomically
from tuning.importance import (
    Importance,
)
from tuning.importance_outputs import what_matters
from tuning.run_dir import RunDir
from tuning.tables import SUMMARY_COLUMNS, format_bounds, format_cell, result_row

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
        + verdicts.method(
            f"{schedule.comparisons} comparison(s) and {schedule.looks} look(s)",
            schedule.paired,
        ),
        "",
    ]
    for verdict in verdicts.DECIDED:
        for trial in (t for t in compared if t.comparison.verdict == verdict):
            result = trial.comparison
            lines.append(
                f"- **{trial.label}** is {verdict}"
                f"{' to' if verdict == verdicts.EQUIVALENT else ' than'} "
                f"{reference}: {result.difference:+.4f} "
                f"{format_bounds(result.ci_low, result.ci_high, signed=True)}, "
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
    why = (
        "as many: each trial's run k is compared with its run k"
        if schedule.paired
        else f"about the square root of {schedule.comparisons} times as many: "
        "it is in every comparison"
    )
    return (
        f"Rounds (`--repeats auto`, up to {analysis.settings.max_repeats} runs "
        f"a trial): a trial's runs at each look {list(schedule.trial_runs)}, "
        f"the reference's {list(schedule.reference_runs)} ({why}). "
        f"{analysis.reference} trained {len(reference.runs)} runs; "
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


def findings(analysis: Analysis) -> list[str]:
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
            cells.append(format_bounds(summary.ci_low, summary.ci_high))
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
        format_bounds(result.ci_low, result.ci_high, signed=True),
        result.interval,
        format_cell(result.p_beats, digits=2),
        result.verdict,
        str(trial.decided_in or ""),
        verdicts.runs_needed_cell(result),
    ]


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
        *findings(analysis),
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
