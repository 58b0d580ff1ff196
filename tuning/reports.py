"""The results table and the long-format history file of a run."""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path

from tuning.run_dir import RunDir, StudySettings
from tuning.trials import TrialRecord, best_epoch, load_trials

HISTORY_METRICS = ("loss", "accuracy", "val_loss", "val_accuracy")
SUMMARY_COLUMNS = (
    "trial_id", "label", "status", "epochs", "final_accuracy", "final_loss",
    "best_val_accuracy", "best_epoch", "final_val_accuracy", "final_val_loss",
    "test_accuracy", "test_loss", "message", "protocol",
)  # fmt: skip


def hyperparameter_columns(rows: list[dict]) -> list[str]:
    """The columns of the results rows that are hyperparameters, in first-seen order."""
    names = dict.fromkeys(key for row in rows for key in row)
    return [name for name in names if name not in SUMMARY_COLUMNS]


def result_row(record: TrialRecord, protocol: str) -> dict:
    """Summarizes one trial: its hyperparameters and final/best metrics.

    Epochs are 1-based. Metrics are blank for a trial with no finished epoch.
    """
    history = record.history
    row = {"trial_id": record.trial_id, "label": record.label}
    row.update(record.hyperparameters)
    row["status"] = record.status
    row["epochs"] = len(history.get("val_accuracy", []))
    if row["epochs"]:
        val_accuracy = history["val_accuracy"]
        best = best_epoch(val_accuracy)
        row.update(
            final_accuracy=history["accuracy"][-1],
            final_loss=history["loss"][-1],
            best_val_accuracy=val_accuracy[best - 1],
            best_epoch=best,
            final_val_accuracy=val_accuracy[-1],
            final_val_loss=history["val_loss"][-1],
        )
    row.update(record.test)
    if record.status == "FAILED" and record.message:
        row["message"] = record.message.strip().splitlines()[-1]
    row["protocol"] = protocol
    return row


def history_rows(record: TrialRecord, protocol: str) -> list[dict]:
    """One row per trial, execution and epoch (1-based)."""
    return [
        {
            "trial_id": record.trial_id,
            "label": record.label,
            "execution": execution,
            "epoch": epoch + 1,
            **{name: history[name][epoch] for name in HISTORY_METRICS},
            "protocol": protocol,
        }
        for execution, history in enumerate(record.histories)
        for epoch in range(len(history["epoch"]))
    ]


def write_reports(run_dir: RunDir) -> list[dict]:
    """Writes `results.csv` and `histories.csv` from the trials on disk.

    Returns:
        The results rows, in trial start order.
    """
    settings = run_dir.read_settings()
    records = load_trials(run_dir)
    rows = [result_row(r, settings.protocol) for r in records]
    _write_csv(run_dir.results_csv, rows)
    _write_csv(
        run_dir.histories_csv,
        [row for r in records for row in history_rows(r, settings.protocol)],
    )
    return rows


def format_table(rows: list[dict], settings: StudySettings) -> str:
    """Renders results rows as a fixed-width text table with a protocol header."""
    columns = ["label", "status", "epochs", "final_accuracy", "final_loss"]
    columns += ["best_val_accuracy", "best_epoch", "final_val_accuracy"]
    columns += ["final_val_loss"]
    if any("test_accuracy" in row for row in rows):
        columns += ["test_accuracy", "test_loss"]
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


def _write_csv(path, rows: list[dict]) -> None:
    """Writes rows with the union of their keys as header, atomically."""
    fieldnames = list(dict.fromkeys(key for row in rows for key in row))
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=fieldnames, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(buffer.getvalue())
    tmp.replace(path)


def study_summary(rows: list[dict]) -> list[str]:
    """Sentences about the study, every number taken from the results rows.

    Covers the best trial by best validation accuracy, the epoch at which each
    trial's validation accuracy peaked, and the train/validation accuracy gap
    at the last epoch.
    """
    done = [row for row in rows if row.get("epochs")]
    if not done:
        return ["No trial has finished an epoch yet."]
    best = max(done, key=lambda row: row["best_val_accuracy"])
    lines = [
        f"Best by best validation accuracy: **{best['label']}**, "
        f"{best['best_val_accuracy']:.4f} at epoch {best['best_epoch']}.",
        "",
        "Epoch of peak validation accuracy: "
        + "; ".join(f"{row['label']}: {row['best_epoch']}" for row in done)
        + ".",
        "",
        "Train minus validation accuracy at the last epoch: "
        + "; ".join(
            f"{row['label']}: {row['final_accuracy'] - row['final_val_accuracy']:.4f}"
            for row in done
        )
        + ".",
    ]
    gaps = {r["label"]: r["final_accuracy"] - r["final_val_accuracy"] for r in done}
    widest = max(gaps, key=gaps.get)
    lines += [
        "",
        f"Widest gap (most overfitting): **{widest}**, {gaps[widest]:.4f}.",
    ]
    return lines


def write_markdown_report(run_dir: RunDir, rows: list[dict], figures: list) -> Path:
    """Writes `report.md`: settings, summary, results table and figures."""
    settings = run_dir.read_settings()
    columns = ["label", *hyperparameter_columns(rows), "status", "epochs"]
    columns += ["best_val_accuracy", "best_epoch", "final_accuracy"]
    columns += ["final_val_accuracy", "final_val_loss"]
    if any("test_accuracy" in row for row in rows):
        columns += ["test_accuracy", "test_loss"]
    lines = [
        f"# Study report: {run_dir.root.name}",
        "",
        f"Mode `{settings.mode}`, {settings.epochs} epochs per trial, batch "
        f"{settings.batch_size}, backend `{settings.backend}`, data `{settings.data}`"
        + (f", first {settings.limit} reviews per split" if settings.limit else "")
        + ".",
        f"Protocol: {describe_protocol(settings)}.",
        "",
        "## Summary",
        "",
        *study_summary(rows),
        "",
        "## Results",
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
    path = run_dir.root / "report.md"
    path.write_text("\n".join(lines))
    return path
