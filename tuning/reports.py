"""The results table and the long-format history file of a run."""

from __future__ import annotations

import csv
import io
import math

from tuning.run_dir import RunDir, StudySettings
from tuning.trials import TrialRecord, load_trials

HISTORY_METRICS = ("loss", "accuracy", "val_loss", "val_accuracy")


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
        best = max(range(len(val_accuracy)), key=val_accuracy.__getitem__)
        row.update(
            final_accuracy=history["accuracy"][-1],
            final_loss=history["loss"][-1],
            best_val_accuracy=val_accuracy[best],
            best_epoch=best + 1,
            final_val_accuracy=val_accuracy[-1],
            final_val_loss=history["val_loss"][-1],
        )
    row.update(record.test)
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
