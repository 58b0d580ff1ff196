"""`report.md`: a run's settings, verdicts, comparisons, results and figures.

It renders an `tuning.analysis.Analysis`; every number in it is one the
analysis computed, and a difference is never stated without its interval.
"""

from __future__ import annotations

import math
from pathlib import Path

from tuning import verdicts
from tuning.analysis import Analysis, TrialResult
from tuning.run_dir import RunDir, write_text_atomically
from tuning.tables import SUMMARY_COLUMNS, format_cell, result_row

# The grid's pair of identical configurations: their gap is seed noise.
NOISE_PAIR = ("Baseline", "64 Units")


def verdict_summary(analysis: Analysis) -> list[str]:
    """Sentences on which trials beat the reference, each difference with its
    95% interval; with one run per trial, why no verdict is possible."""
    settings, objective = analysis.settings, analysis.objective.name
    compared = analysis.compared
    if settings.repeats < 2 or not compared:
        return _no_verdict(analysis)
    reference = analysis.reference
    lines = [
        f"Compared with **{reference}** on {objective} (each run's best), over "
        f"{settings.repeats} runs per trial: difference of means with its 95% "
        f"Welch interval, P(A>B), and the verdict of Welch's test at level "
        f"0.05/{len(compared)} (Bonferroni; docs/statistics.md).",
        "",
    ]
    winners = [t for t in compared if t.comparison.verdict == verdicts.BETTER]
    for trial in winners:
        result = trial.comparison
        lines.append(
            f"- **{trial.label}** is better than {reference}: "
            f"{result.difference:+.4f} "
            f"{_bounds(result.ci_low, result.ci_high, signed=True)}, "
            f"P(A>B) = {result.p_beats:.2f}."
        )
    if not winners:
        lines.append(
            f"No trial is better than {reference} with {settings.repeats} runs; "
            "no winner is named."
        )
    return lines


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
        f"Widest gap (most overfitting): **{widest}**, {gaps[widest]:.4f}.",
    ]


def comparison_table(analysis: Analysis) -> list[str]:
    """Markdown rows: each trial's mean objective with its interval, and its
    difference from the reference with interval, P(A>B) and verdict."""
    lines = [
        "| trial | runs | mean | 95% CI | difference | 95% CI | P(A>B) "
        "| verdict | runs needed |",
        "|---|---|---|---|---|---|---|---|---|",
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
    """Difference, its interval, P(A>B), verdict and runs needed."""
    if is_reference:
        return ["reference", "", "", "", ""]
    result = trial.comparison
    if result is None:
        return ["", "", "", "", ""]
    needed = result.repeats_needed or ""
    if result.verdict == verdicts.UNDECIDED and needed == "":
        needed = f"> {verdicts.LARGEST_REPEATS_NEEDED}"
    return [
        f"{result.difference:+.4f}",
        _bounds(result.ci_low, result.ci_high, signed=True),
        format_cell(result.p_beats, digits=2),
        result.verdict,
        str(needed),
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


def write_report(run_dir: RunDir, analysis: Analysis, figures: list[Path]) -> Path:
    """Writes `report.md`: settings, summary, comparisons, results and figures."""
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
        "rankings and comparisons follow it.",
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
    write_text_atomically(run_dir.report, "\n".join(lines))
    return run_dir.report
