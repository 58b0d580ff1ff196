"""A run's tables: `results.csv`, `runs.csv`, `histories.csv` and the
terminal's, each rendering an `tuning.analysis.Analysis` (one row per trial,
per finished run, and per run and epoch); and the cells and CSV files every
table is written with.
"""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path

from tuning import verdicts
from tuning.analysis import RUN_METRICS, Analysis, TrialResult
from tuning.files import write_text_atomically
from tuning.objective import HISTORY_METRICS
from tuning.records import epoch_numbers, failure_reason
from tuning.run_dir import RunDir

# The results columns that are not hyperparameters.
SUMMARY_COLUMNS = (
    "trial_id", "label", "status", "epochs", "final_accuracy", "final_loss",
    "best_val_accuracy", "best_epoch", "final_val_accuracy", "final_val_loss",
    "test_accuracy", "test_loss", "message", "protocol", "objective_metric",
    "repeats",
    *(f"{m}_{s}" for m in RUN_METRICS for s in ("mean", "std", "ci_low", "ci_high")),
    "reference", "margin", "difference", "difference_ci_low",
    "difference_ci_high", "p_beats_reference", "interval", "verdict",
    "decided_in_round", "repeats_needed",
)  # fmt: skip


def result_row(trial: TrialResult, analysis: Analysis) -> dict:
    """One trial: its hyperparameters, its mean curve's final metrics and
    best epoch of the objective, each run metric's mean, standard deviation
    and 95% interval over its runs, and its comparison with the reference.

    Metrics are blank for a trial with no finished epoch.
    """
    record, history = trial.record, trial.history
    row = {"trial_id": record.trial_id, "label": record.label}
    row.update(record.hyperparameters)
    row["status"] = record.status
    row["epochs"] = len(trial.epochs)
    if trial.best_epoch is not None:
        row.update(
            final_accuracy=history["accuracy"][-1],
            final_loss=history["loss"][-1],
            best_val_accuracy=max(history["val_accuracy"]),
            best_epoch=trial.best_epoch,
            final_val_accuracy=history["val_accuracy"][-1],
            final_val_loss=history["val_loss"][-1],
        )
    row.update(record.test)
    if record.status == "FAILED" and record.message:
        row["message"] = failure_reason(record.message)
    row["protocol"] = analysis.settings.protocol
    row["objective_metric"] = analysis.objective.name
    row["repeats"] = len(trial.runs)
    for metric, summary in trial.summaries.items():
        row.update(
            {
                f"{metric}_mean": summary.mean,
                f"{metric}_std": summary.std,
                f"{metric}_ci_low": summary.ci_low,
                f"{metric}_ci_high": summary.ci_high,
            }
        )
    if trial.comparison is not None:
        result = trial.comparison
        row.update(
            reference=analysis.reference,
            margin=analysis.settings.margin,
            difference=result.difference,
            difference_ci_low=result.ci_low,
            difference_ci_high=result.ci_high,
            p_beats_reference=result.p_beats,
            interval=result.interval,
            verdict=result.verdict,
            decided_in_round=trial.decided_in or "",
            repeats_needed=verdicts.runs_needed_cell(result),
        )
    return row


def run_rows(trial: TrialResult, analysis: Analysis) -> list[dict]:
    """One row per finished run: its round, seed, best and final metrics,
    test metrics."""
    reference = trial.label == analysis.reference
    schedule = analysis.schedule
    return [
        {
            "trial_id": run.trial_id or trial.record.trial_id,
            "label": trial.label,
            "repeat": run.repeat,
            "round": schedule.round_of(run.repeat, reference) if schedule else 1,
            "seed": run.seed,
            "epochs": run.epochs,
            "best_val_accuracy": run.metrics["best_val_accuracy"],
            "best_epoch": run.best_epoch,
            "final_val_accuracy": run.metrics["final_val_accuracy"],
            "objective": run.metrics["objective"],
            "final_val_loss": run.metrics["final_val_loss"],
            **run.test,
        }
        for run in trial.runs
    ]


def history_rows(trial: TrialResult, protocol: str) -> list[dict]:
    """One row per run and epoch (1-based), unfinished runs included."""
    return [
        {
            "trial_id": trial.record.trial_id,
            "label": trial.label,
            "repeat": run.repeat,
            "epoch": number,
            **{name: run.history[name][index] for name in HISTORY_METRICS},
            "protocol": protocol,
        }
        for run in trial.record.runs
        for index, number in enumerate(epoch_numbers(run.history))
    ]


def write_tables(run_dir: RunDir, analysis: Analysis) -> list[dict]:
    """Writes `results.csv`, `runs.csv` and `histories.csv`.

    Returns:
        The results rows, in trial start order.
    """
    rows = [result_row(trial, analysis) for trial in analysis.trials]
    protocol = analysis.settings.protocol
    write_csv(run_dir.results_csv, rows)
    write_csv(
        run_dir.runs_csv, [r for t in analysis.trials for r in run_rows(t, analysis)]
    )
    write_csv(
        run_dir.histories_csv,
        [row for t in analysis.trials for row in history_rows(t, protocol)],
    )
    return rows


def format_table(analysis: Analysis) -> str:
    """The results as a fixed-width text table under a header naming the
    protocol and the objective."""
    rows = [result_row(trial, analysis) for trial in analysis.trials]
    columns = ["label", "status", "epochs", "final_accuracy", "final_loss"]
    columns += ["best_val_accuracy", "best_epoch", "final_val_accuracy"]
    columns += ["final_val_loss"]
    if any("test_accuracy" in row for row in rows):
        columns += ["test_accuracy", "test_loss"]
    if analysis.settings.gives_verdicts:
        columns += ["repeats", "objective_mean", "difference", "verdict"]
    cells = [[format_cell(row.get(c, "")) for c in columns] for row in rows]
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(columns)]
    settings = analysis.settings
    lines = [
        f"Results ({settings.protocol_description}; best_epoch and the "
        f"comparisons by {settings.objective.name}, margin {settings.margin:g}):"
    ]
    lines.append(_join_cells(columns, widths))
    lines += [_join_cells(r, widths) for r in cells]
    return "\n".join(lines)


def format_bounds(low: float, high: float, signed: bool = False) -> str:
    """An interval as `[low, high]`; empty where it is undefined (one run)."""
    if math.isnan(low):
        return ""
    sign = "+" if signed else ""
    return f"[{low:{sign}.4f}, {high:{sign}.4f}]"


def format_cell(value, digits: int = 4) -> str:
    """Metrics to `digits` decimals, blank where they could not be estimated
    (NaN: an interval over one run); anything else as it is."""
    if isinstance(value, float):
        return "" if math.isnan(value) else f"{value:.{digits}f}"
    return str(value)


def _join_cells(cells: list[str], widths: list[int]) -> str:
    return "  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip()


def write_csv(path: Path, rows: list[dict]) -> None:
    """Writes rows with the union of their keys as header, atomically."""
    fieldnames = list(dict.fromkeys(key for row in rows for key in row))
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=fieldnames, lineterminator="\n")
    writer.writeheader()
    writer.writerows(
        {k: "" if isinstance(v, float) and math.isnan(v) else v for k, v in row.items()}
        for row in rows
    )  # a number that could not be estimated (one run) is left blank
    write_text_atomically(path, buffer.getvalue())
