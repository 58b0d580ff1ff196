"""A run's tables (`results.csv`, `runs.csv`, `histories.csv`) and `report.md`.

Numbers over repeats, and every comparison with the reference trial, come
from `tuning.statistics`; a difference is never stated without its interval.
"""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path

from tuning import statistics
from tuning.run_dir import RunDir, write_text_atomically
from tuning.settings import StudySettings
from tuning.trials import (
    RunRecord,
    TrialRecord,
    best_epoch,
    epoch_numbers,
    failure_reason,
    load_trials,
)

HISTORY_METRICS = ("loss", "accuracy", "val_loss", "val_accuracy")
# Per-run metrics summarized over repeats ("objective": the run's best value
# of the study's objective, what the oracle averages).
RUN_METRICS = ("best_val_accuracy", "final_val_accuracy", "objective")
SUMMARY_COLUMNS = (
    "trial_id", "label", "status", "epochs", "final_accuracy", "final_loss",
    "best_val_accuracy", "best_epoch", "final_val_accuracy", "final_val_loss",
    "test_accuracy", "test_loss", "message", "protocol", "repeats",
    *(f"{m}_{s}" for m in RUN_METRICS for s in ("mean", "std", "ci_low", "ci_high")),
    "reference", "difference", "difference_ci_low", "difference_ci_high",
    "p_beats_reference", "p_value", "verdict", "repeats_needed",
)  # fmt: skip
# The grid's pair of identical configurations: their gap is seed noise.
NOISE_PAIR = ("Baseline", "64 Units")


def hyperparameter_columns(rows: list[dict]) -> list[str]:
    """The columns of the results rows that are hyperparameters, in first-seen order."""
    names = dict.fromkeys(key for row in rows for key in row)
    return [name for name in names if name not in SUMMARY_COLUMNS]


def run_metrics(run: RunRecord, settings: StudySettings) -> dict:
    """One run's best and final validation accuracy and its objective value."""
    val_accuracy = run.history["val_accuracy"]
    objective = run.history[settings.objective]
    return {
        "best_val_accuracy": max(val_accuracy),
        "best_epoch": best_epoch(run.history),
        "final_val_accuracy": val_accuracy[-1],
        "objective": max(objective) if settings.higher_is_better else min(objective),
    }


def result_row(record: TrialRecord, settings: StudySettings) -> dict:
    """Summarizes one trial: its hyperparameters, the metrics of its mean
    curve (best, final; `epochs` trained, `best_epoch` 1-based), and each
    run metric's mean, standard deviation and 95% interval over its finished
    repeats.

    Metrics are blank for a trial with no finished epoch.
    """
    history = record.history
    row = {"trial_id": record.trial_id, "label": record.label}
    row.update(record.hyperparameters)
    row["status"] = record.status
    row["epochs"] = len(history.get("val_accuracy", []))
    if row["epochs"]:
        val_accuracy = history["val_accuracy"]
        row.update(
            final_accuracy=history["accuracy"][-1],
            final_loss=history["loss"][-1],
            best_val_accuracy=max(val_accuracy),
            best_epoch=best_epoch(history),
            final_val_accuracy=val_accuracy[-1],
            final_val_loss=history["val_loss"][-1],
        )
    row.update(record.test)
    if record.status == "FAILED" and record.message:
        row["message"] = failure_reason(record.message)
    row["protocol"] = settings.protocol
    runs = [run_metrics(run, settings) for run in record.finished_runs]
    row["repeats"] = len(runs)
    if runs:
        for metric in RUN_METRICS:
            summary = statistics.summarize([run[metric] for run in runs])
            row.update(
                {
                    f"{metric}_mean": summary.mean,
                    f"{metric}_std": summary.std,
                    f"{metric}_ci_low": summary.ci_low,
                    f"{metric}_ci_high": summary.ci_high,
                }
            )
    return row


def run_objectives(
    records: list[TrialRecord], settings: StudySettings
) -> dict[str, list[float]]:
    """Each completed trial's objective, one value per finished run, by label."""
    return {
        r.label: [run_metrics(run, settings)["objective"] for run in r.finished_runs]
        for r in records
        if r.status == "COMPLETED" and r.finished_runs
    }


def reference_label(
    objectives: dict[str, list[float]], settings: StudySettings
) -> str | None:
    """The trial the others are compared with: `settings.reference`, else the
    one of `objectives` (see `run_objectives`) with the best mean; `None` if
    there is none."""
    if settings.reference or not objectives:
        return settings.reference
    choose = max if settings.higher_is_better else min
    return choose(
        objectives, key=lambda label: statistics.summarize(objectives[label]).mean
    )


def add_comparisons(
    rows: list[dict], records: list[TrialRecord], settings: StudySettings
) -> None:
    """Adds to each completed trial's row its comparison with the reference."""
    objectives = run_objectives(records, settings)
    reference = reference_label(objectives, settings)
    if reference not in objectives:
        return
    others = [label for label in objectives if label != reference]
    for row in rows:
        if row["label"] not in others:
            continue
        result = statistics.compare(
            objectives[row["label"]],
            objectives[reference],
            settings.higher_is_better,
            comparisons=len(others),
        )
        row.update(
            reference=reference,
            difference=result.difference,
            difference_ci_low=result.ci_low,
            difference_ci_high=result.ci_high,
            p_beats_reference=result.p_beats,
            p_value=result.p_value,
            verdict=result.verdict,
            repeats_needed=result.repeats_needed or "",
        )


def run_rows(record: TrialRecord, settings: StudySettings) -> list[dict]:
    """One row per finished run: its seed, best and final metrics, test metrics."""
    return [
        {
            "trial_id": record.trial_id,
            "label": record.label,
            "repeat": run.repeat,
            "seed": run.seed,
            "epochs": run.epochs,
            **run_metrics(run, settings),
            "final_val_loss": run.history["val_loss"][-1],
            **run.test,
        }
        for run in record.finished_runs
    ]


def history_rows(record: TrialRecord, settings: StudySettings) -> list[dict]:
    """One row per trial, repeat and epoch (1-based)."""
    return [
        {
            "trial_id": record.trial_id,
            "label": record.label,
            "repeat": run.repeat,
            "epoch": number,
            **{name: run.history[name][index] for name in HISTORY_METRICS},
            "protocol": settings.protocol,
        }
        for run in record.runs
        for index, number in enumerate(epoch_numbers(run.history))
    ]


def write_reports(run_dir: RunDir, settings: StudySettings) -> list[dict]:
    """Writes `results.csv`, `runs.csv` and `histories.csv` from the trials on disk.

    Returns:
        The results rows, in trial start order.
    """
    records = load_trials(run_dir)
    rows = [result_row(r, settings) for r in records]
    add_comparisons(rows, records, settings)
    _write_csv(run_dir.results_csv, rows)
    _write_csv(
        run_dir.runs_csv, [row for r in records for row in run_rows(r, settings)]
    )
    _write_csv(
        run_dir.histories_csv,
        [row for r in records for row in history_rows(r, settings)],
    )
    return rows


def format_table(rows: list[dict], settings: StudySettings) -> str:
    """Renders results rows as a fixed-width text table with a protocol header."""
    columns = ["label", "status", "epochs", "final_accuracy", "final_loss"]
    columns += ["best_val_accuracy", "best_epoch", "final_val_accuracy"]
    columns += ["final_val_loss"]
    if any("test_accuracy" in row for row in rows):
        columns += ["test_accuracy", "test_loss"]
    if settings.repeats > 1:
        columns += ["repeats", "objective_mean", "difference", "verdict"]
    cells = [[_format_cell(row.get(c, "")) for c in columns] for row in rows]
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(columns)]
    lines = [f"Results ({describe_protocol(settings)}):"]
    lines.append(_join_cells(columns, widths))
    lines += [_join_cells(r, widths) for r in cells]
    return "\n".join(lines)


def describe_protocol(settings: StudySettings) -> str:
    """One phrase saying what the validation metrics were measured on."""
    if settings.validation_split is None:
        return "validation = the test reviews, every epoch (notebook protocol)"
    return (
        f"validation = {settings.validation_split:g} of the training reviews "
        "held out; test reviews evaluated once per trial"
    )


def _join_cells(cells: list[str], widths: list[int]) -> str:
    return "  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip()


def _markdown_cell(row: dict, column: str) -> str:
    """Metrics to 4 decimals; hyperparameters as given (0.001, not 0.0010)."""
    value = row.get(column, "")
    return _format_cell(value) if column in SUMMARY_COLUMNS else str(value)


def _format_cell(value) -> str:
    if isinstance(value, float):
        return "nan" if math.isnan(value) else f"{value:.4f}"
    return str(value)


def _write_csv(path: Path, rows: list[dict]) -> None:
    """Writes rows with the union of their keys as header, atomically."""
    fieldnames = list(dict.fromkeys(key for row in rows for key in row))
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=fieldnames, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    write_text_atomically(path, buffer.getvalue())


def verdict_summary(rows: list[dict], settings: StudySettings) -> list[str]:
    """Sentences on which trials beat the reference, each difference with its
    95% interval; with one repeat, why no verdict is possible."""
    compared = [row for row in rows if row.get("verdict")]
    objective = f"{settings.objective} (each run's best)"
    if settings.repeats < 2 or not compared:
        lines = [
            "One run per trial: no verdict is possible, since a difference "
            "between two single runs cannot be told apart from seed noise. "
            "Run with `--repeats 5` or more."
        ]
        pair = {row["label"]: row for row in rows if row["label"] in NOISE_PAIR}
        if len(pair) == 2 and all(row["epochs"] for row in pair.values()):
            first, second = (pair[label]["best_val_accuracy"] for label in NOISE_PAIR)
            gap = second - first
            lines.append(
                f'Noise yardstick: Baseline and "64 Units", the same configuration '
                f"from other seeds, differ by {gap:+.4f} in best val_accuracy."
            )
        return lines
    reference = compared[0]["reference"]
    lines = [
        f"Compared with **{reference}** on {objective}, over {settings.repeats} "
        f"repeats per trial: difference of means with its 95% Welch interval, "
        f"P(A>B), and the verdict of Welch's test at level 0.05/{len(compared)} "
        "(Bonferroni, README: Comparisons).",
        "",
    ]
    winners = [row for row in compared if row["verdict"] == statistics.BETTER]
    for row in winners:
        lines.append(
            f"- **{row['label']}** is better than {reference}: "
            f"{row['difference']:+.4f} "
            f"{_bounds(row['difference_ci_low'], row['difference_ci_high'], True)}, "
            f"P(A>B) = {row['p_beats_reference']:.2f}."
        )
    if not winners:
        lines.append(
            f"No trial is better than {reference} with {settings.repeats} repeats; "
            "no winner is named."
        )
    return lines


def study_summary(rows: list[dict], settings: StudySettings) -> list[str]:
    """Sentences about the study, every number taken from the results rows.

    Covers the verdicts against the reference (`verdict_summary`), the
    epoch at which each trial's validation accuracy peaked, and the
    train/validation accuracy gap at the last epoch.
    """
    done = [row for row in rows if row.get("epochs")]
    if not done:
        return ["No trial has finished an epoch yet."]
    gaps = {r["label"]: r["final_accuracy"] - r["final_val_accuracy"] for r in done}
    widest = max(gaps, key=gaps.get)
    return [
        *verdict_summary(rows, settings),
        "",
        "Epoch of peak validation accuracy: "
        + "; ".join(f"{row['label']}: {row['best_epoch']}" for row in done)
        + ".",
        "",
        "Train minus validation accuracy at the last epoch: "
        + "; ".join(f"{label}: {gap:.4f}" for label, gap in gaps.items())
        + ".",
        "",
        f"Widest gap (most overfitting): **{widest}**, {gaps[widest]:.4f}.",
    ]


def comparison_table(rows: list[dict]) -> list[str]:
    """Markdown rows: each trial's mean objective with its interval, and its
    difference from the reference with interval, P(A>B) and verdict."""
    references = {row.get("reference") for row in rows}
    lines = [
        "| trial | repeats | mean | 95% CI | difference | 95% CI | P(A>B) "
        "| verdict | repeats needed |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        if row.get("repeats"):
            cells = [row["label"], row["repeats"], f"{row['objective_mean']:.4f}"]
            cells.append(_bounds(row["objective_ci_low"], row["objective_ci_high"]))
            cells += _comparison_cells(row, row["label"] in references)
            lines.append("| " + " | ".join(map(str, cells)) + " |")
    return lines


def _comparison_cells(row: dict, is_reference: bool) -> list[str]:
    """Difference, its interval, P(A>B), verdict and repeats needed."""
    if is_reference:
        return ["reference", "", "", "", ""]
    if "verdict" not in row:
        return ["", "", "", "", ""]
    needed = row["repeats_needed"]
    if row["verdict"] == statistics.UNDECIDED and needed == "":
        needed = f"> {statistics.LARGEST_REPEATS_NEEDED}"
    return [
        f"{row['difference']:+.4f}",
        _bounds(row["difference_ci_low"], row["difference_ci_high"], signed=True),
        f"{row['p_beats_reference']:.2f}",
        row["verdict"],
        str(needed),
    ]


def _bounds(low: float, high: float, signed: bool = False) -> str:
    """An interval as `[low, high]`; empty where it is undefined (one repeat)."""
    if math.isnan(low):
        return ""
    sign = "+" if signed else ""
    return f"[{low:{sign}.4f}, {high:{sign}.4f}]"


def write_markdown_report(
    run_dir: RunDir, settings: StudySettings, rows: list[dict], figures: list
) -> Path:
    """Writes `report.md`: settings, summary, comparisons, results and figures."""
    columns = ["label", *hyperparameter_columns(rows), "status", "epochs"]
    columns += ["best_val_accuracy", "best_epoch", "final_accuracy"]
    columns += ["final_val_accuracy", "final_val_loss"]
    if any("test_accuracy" in row for row in rows):
        columns += ["test_accuracy", "test_loss"]
    lines = [
        f"# Study report: {run_dir.root.name}",
        "",
        f"Mode `{settings.mode}`, {settings.epochs} epochs per trial, "
        f"{settings.repeats} repeat(s) per trial from seed {settings.seed}, batch "
        f"{settings.batch_size}, backend `{settings.backend}`, data `{settings.data}`"
        + (f", first {settings.limit} reviews per split" if settings.limit else "")
        + ".",
        f"Protocol: {describe_protocol(settings)}.",
        "",
        "## Summary",
        "",
        *study_summary(rows, settings),
        "",
        f"## Comparisons ({settings.objective}, each run's best)",
        "",
        *comparison_table(rows),
        "",
        "## Results (the mean curve of each trial)",
        "",
        "| " + " | ".join(columns) + " |",
        "|" + "---|" * len(columns),
        *(
            "| " + " | ".join(_markdown_cell(r, c) for c in columns) + " |"
            for r in rows
        ),
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
