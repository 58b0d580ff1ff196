"""Trials and their training runs, read back from a run directory.

The analysis reads trials through `load_trials`, from the files on disk, so
it works the same on a finished run, a crashed one and one still going.
Vocabulary: a trial is one point of the search space; it trains in one or
more runs (`--repeats K`, Keras Tuner's "executions"), numbered by `repeat`.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import math
import re

import numpy as np

from hypermodels.variants import VARIANT_KEY
from tuning.objective import HISTORY_METRICS, Objective
from tuning.rounds import ROUND_KEY
from tuning.run_dir import RunDir, damaged
from tuning.settings import StudySettings

# Keras Tuner's trial statuses, and those of a trial its oracle has ended.
COMPLETED = "COMPLETED"
TRIAL_STATUSES = ("RUNNING", "IDLE", "INVALID", "STOPPED", "COMPLETED", "FAILED")
ENDED_STATUSES = ("INVALID", "STOPPED", "COMPLETED", "FAILED")
# What a run's history must record.
HISTORY_COLUMNS = ("epoch", *HISTORY_METRICS)
METRIC_COLUMNS = HISTORY_COLUMNS[1:]


def epoch_numbers(history: dict[str, list[float]]) -> list[int]:
    """A history's 1-based epoch numbers. A Hyperband trial that continues
    an earlier one starts past epoch 1 (Keras' `initial_epoch`)."""
    return [int(epoch) + 1 for epoch in history["epoch"]]


# A traceback's exception line, e.g. `ValueError: ...` or `jax.errors.X: ...`.
_EXCEPTION_LINE = re.compile(r"^[\w.]+(Error|Exception|Exhausted|Exit)\b.*:")


def failure_reason(message: str | None) -> str:
    """The exception line of a failed trial's traceback (Keras Tuner keeps the
    whole traceback; JAX appends notes after the exception line)."""
    lines = [line.strip() for line in (message or "").splitlines() if line.strip()]
    errors = [line for line in lines if _EXCEPTION_LINE.match(line)]
    return (errors or lines or [""])[-1]


def trial_label(trial_id: str, values: dict) -> str:
    """Names a trial: its variant name in grid mode, else `trial <id>`."""
    return values.get(VARIANT_KEY) or f"trial {trial_id}"


@dataclasses.dataclass(frozen=True)
class RunRecord:
    """One training run of a trial.

    Attributes:
        repeat: its 0-based index within the trial's label (a variant's
            runs over every round of `--repeats auto`).
        history: metric name -> per-epoch values (`epoch` included).
        finished: whether it trained to its end (its run record exists).
        seed: the seed it trained from; `None` until finished.
        test: its test-set metrics, when evaluated on the test reviews.
    """

    repeat: int
    history: dict[str, list[float]]
    finished: bool = True
    seed: int | None = None
    test: dict[str, float] = dataclasses.field(default_factory=dict)
    trial_id: str | None = None

    @property
    def epochs(self) -> int:
        return len(self.history.get("epoch", []))


@dataclasses.dataclass(frozen=True)
class TrialRecord:
    """One trial as recorded on disk.

    Attributes:
        trial_id: Keras Tuner's trial id.
        label: see `trial_label`.
        status: Keras Tuner's status (`COMPLETED`, `RUNNING`, `FAILED`, ...).
        hyperparameters: the trial's values, the `variant` name excluded.
        runs: its training runs that finished an epoch, by repeat.
        message: Keras Tuner's failure message, if any.
    """

    trial_id: str
    label: str
    status: str
    hyperparameters: dict
    runs: list[RunRecord]
    message: str | None = None

    @property
    def finished_runs(self) -> list[RunRecord]:
        return [run for run in self.runs if run.finished]

    @property
    def history(self) -> dict[str, list[float]]:
        """Per-epoch metrics averaged over runs (over their common epochs)."""
        return mean_history([run.history for run in self.runs])

    @property
    def test(self) -> dict[str, float]:
        """Test-set metrics averaged over finished runs; empty if never evaluated."""
        tested = [run.test for run in self.finished_runs if run.test]
        if not tested:
            return {}
        return {n: float(np.mean([t[n] for t in tested])) for n in tested[0]}


def mean_history(histories: list[dict[str, list[float]]]) -> dict[str, list[float]]:
    """Per-epoch means over `histories`, over the epochs they all have."""
    if not histories:
        return {}
    epochs = min(len(h["epoch"]) for h in histories)
    return {
        "epoch": histories[0]["epoch"][:epochs],
        **{
            name: np.mean([h[name][:epochs] for h in histories], axis=0).tolist()
            for name in histories[0]
            if name != "epoch"
        },
    }


def load_trials(run_dir: RunDir, settings: StudySettings) -> list[TrialRecord]:
    """Reads every started trial of a run, in the order the trials started,
    checking each file against what it must contain, and each trial that
    ended against the runs `settings` planned for it.

    Returns:
        A list of `TrialRecord`; empty when no trial has started.

    Raises:
        UsageError: naming the first file that is not what this tool wrote
            (unreadable, or readable but wrong), or a trial that ended
            without the files of one of its runs (Keras Tuner would not
            train it again, and every output would count one run fewer
            without a word); and the way out.
    """
    if not run_dir.oracle.is_file():
        return []
    oracle = _read_json(
        run_dir.oracle, {"start_order": list, "end_order": list, "ongoing_trials": dict}
    )
    ended = set(oracle["end_order"])
    return [
        _load_trial(run_dir, str(t), t in ended, settings)
        for t in oracle["start_order"]
    ]


def _read_json(path, required: dict[str, type]) -> dict:
    """A JSON object with `required` keys of the given types."""
    try:
        content = json.loads(path.read_text())
    except (OSError, ValueError, UnicodeDecodeError) as e:
        raise damaged(path, str(e)) from None
    if not isinstance(content, dict):
        raise damaged(path, "not a JSON object")
    for key, kind in required.items():
        if not isinstance(content.get(key), kind):
            raise damaged(path, f"no {kind.__name__} {key!r}")
    return content


def _load_trial(
    run_dir: RunDir, trial_id: str, ended: bool, settings: StudySettings
) -> TrialRecord:
    path = run_dir.trial_file(trial_id)
    if not path.is_file():
        raise damaged(run_dir.oracle, f"it names trial {trial_id}, which has no {path}")
    trial = _read_json(path, {"hyperparameters": dict, "metrics": dict, "status": str})
    status = trial["status"]
    if status not in TRIAL_STATUSES:
        raise damaged(path, f"unknown status {status!r}")
    if ended and status not in ENDED_STATUSES:
        raise damaged(path, f"status {status}, but oracle.json says the trial ended")
    values = trial["hyperparameters"].get("values")
    if not isinstance(values, dict):
        raise damaged(path, "no hyperparameter values")
    values = dict(values)
    label = trial_label(trial_id, values)
    values.pop(VARIANT_KEY, None)
    round_ = values.pop(ROUND_KEY, None)
    runs = []
    for repeat in run_dir.repeats(trial_id):
        run = _load_run(run_dir, trial_id, repeat)
        if run.epochs:
            runs.append(run)
    if status == COMPLETED:
        planned = settings.runs_of(round_, label == settings.reference)
        _check_every_run_found(run_dir, trial_id, label, planned, runs)
    return TrialRecord(
        trial_id=trial_id,
        label=label,
        status=status,
        hyperparameters=values,
        runs=runs,
        message=trial.get("message"),
    )


def _check_every_run_found(
    run_dir: RunDir, trial_id: str, label: str, planned: range, runs: list[RunRecord]
) -> None:
    found = {run.repeat for run in runs if run.finished}
    for repeat in planned:
        if repeat not in found:
            history = run_dir.history_csv(trial_id, repeat).name
            finished = run_dir.run_record(trial_id, repeat).name
            raise damaged(
                run_dir.trial_dir(trial_id),
                f"trial {label} ended, but its run {repeat} left neither "
                f"{history} nor {finished}",
            )


def _load_run(run_dir: RunDir, trial_id: str, repeat: int) -> RunRecord:
    record_file = run_dir.run_record(trial_id, repeat)
    finished = record_file.is_file()
    # A run killed mid-write may end in a partial row; it trains again.
    history_file = run_dir.history_csv(trial_id, repeat)
    history = read_history(history_file, strict=finished)
    if not finished:
        return RunRecord(repeat, history, finished=False, trial_id=trial_id)
    if not history["epoch"]:
        raise damaged(history_file, "its run finished, but it has no epoch")
    record = _read_json(record_file, {"seed": int})
    test = record.get("test", {})
    if not isinstance(test, dict):
        raise damaged(record_file, "test metrics that are not an object")
    return RunRecord(repeat, history, True, record["seed"], test, trial_id)


def read_history(path, strict: bool = True) -> dict[str, list[float]]:
    """Reads a Keras `CSVLogger` file into metric name -> per-epoch values.

    Args:
        path: the file.
        strict: refuse a row that is not numbers. Else keep the rows before
            it (a run killed while it wrote). Defaults to `True`.

    Raises:
        UsageError: for a file without the history's columns, or with a
            row that is not numbers (when `strict`).
    """
    try:
        with open(path, newline="") as f:
            rows = list(csv.DictReader(f))
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        raise damaged(path, str(e)) from None
    if not rows:
        return {"epoch": []}
    missing = [name for name in HISTORY_COLUMNS if name not in rows[0]]
    if missing:
        raise damaged(path, f"no {', '.join(missing)} column")
    history = {name: [] for name in rows[0]}
    for number, row in enumerate(rows, start=2):
        try:
            values = {name: float(row[name]) for name in history}
        except (TypeError, ValueError):
            if strict:
                raise damaged(path, f"line {number} is not numbers") from None
            break
        for name, value in values.items():
            _check_range(path, number, name, value)
            history[name].append(value)
    return history


def _check_range(path, number: int, name: str, value: float) -> None:
    """Refuses a metric no training could have logged (an accuracy of 7.5,
    a negative loss): a damaged file, not a result. NaN is a diverged run's."""
    if name not in METRIC_COLUMNS or math.isnan(value):
        return
    low, high = Objective.named(name).bounds
    if not low <= value <= high:
        raise damaged(
            path, f"line {number}: {name} {value:g} is outside {low:g} to {high:g}"
        )
