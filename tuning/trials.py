"""Trials read back from a run directory, with their per-epoch histories.

Everything downstream of training (tables, plots) reads trials through
`load_trials`, from the files on disk, so it works the same on a finished
run, a crashed one and one that is still going.
"""

from __future__ import annotations

import csv
import dataclasses
import json

import numpy as np

from tuning.run_dir import RunDir

# The grid's hyperparameter that carries a trial's variant name.
VARIANT_KEY = "variant"


def best_epoch(values: list[float]) -> int:
    """The 1-based epoch of the highest value (the first, on ties)."""
    return max(range(len(values)), key=values.__getitem__) + 1


def trial_label(trial_id: str, values: dict) -> str:
    """Names a trial: its variant name in grid mode, else `trial <id>`."""
    return values.get(VARIANT_KEY) or f"trial {trial_id}"


@dataclasses.dataclass(frozen=True)
class TrialRecord:
    """One trial as recorded on disk.

    Attributes:
        trial_id: Keras Tuner's trial id.
        label: see `trial_label`.
        status: Keras Tuner's status (`COMPLETED`, `RUNNING`, `FAILED`, ...).
        hyperparameters: the trial's values, the `variant` name excluded.
        histories: one per execution, metric name -> per-epoch values.
        test_metrics: one per execution that was evaluated on the test set.
        message: Keras Tuner's failure message, if any.
    """

    trial_id: str
    label: str
    status: str
    hyperparameters: dict
    histories: list[dict[str, list[float]]]
    test_metrics: list[dict[str, float]]
    message: str | None = None

    @property
    def history(self) -> dict[str, list[float]]:
        """Per-epoch metrics averaged over executions (over their common epochs)."""
        if not self.histories:
            return {}
        epochs = min(len(h["epoch"]) for h in self.histories)
        return {
            name: np.mean([h[name][:epochs] for h in self.histories], axis=0).tolist()
            for name in self.histories[0]
            if name != "epoch"
        }

    @property
    def test(self) -> dict[str, float]:
        """Test-set metrics averaged over executions; empty if never evaluated."""
        if not self.test_metrics:
            return {}
        names = self.test_metrics[0]
        return {n: float(np.mean([m[n] for m in self.test_metrics])) for n in names}


def load_trials(run_dir: RunDir) -> list[TrialRecord]:
    """Reads every started trial of a run, in the order the trials started.

    Args:
        run_dir: the run directory.

    Returns:
        A list of `TrialRecord`; empty when no trial has started.
    """
    oracle_file = run_dir.root / "oracle.json"
    if not oracle_file.is_file():
        return []
    start_order = json.loads(oracle_file.read_text())["start_order"]
    return [_load_trial(run_dir, trial_id) for trial_id in start_order]


def _load_trial(run_dir: RunDir, trial_id: str) -> TrialRecord:
    trial = json.loads((run_dir.trial_dir(trial_id) / "trial.json").read_text())
    values = dict(trial["hyperparameters"]["values"])
    label = trial_label(trial_id, values)
    values.pop(VARIANT_KEY, None)
    histories, test_metrics = [], []
    execution = 0
    while run_dir.history_csv(trial_id, execution).is_file():
        histories.append(_read_history(run_dir.history_csv(trial_id, execution)))
        test_file = run_dir.test_metrics(trial_id, execution)
        if test_file.is_file():
            test_metrics.append(json.loads(test_file.read_text()))
        execution += 1
    return TrialRecord(
        trial_id=trial_id,
        label=label,
        status=trial["status"],
        hyperparameters=values,
        histories=[h for h in histories if h["epoch"]],
        test_metrics=test_metrics,
        message=trial.get("message"),
    )


def _read_history(path) -> dict[str, list[float]]:
    """Reads a Keras `CSVLogger` file into metric name -> per-epoch values."""
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows:
        return {"epoch": []}
    return {name: [float(row[name]) for row in rows] for name in rows[0]}
