"""Where a run keeps its files, and the settings it was started with.

A run directory (`logs/<run-name>/`) is Keras Tuner's project directory
(`oracle.json`, `tuner0.json`, `trial_<id>/trial.json`) plus what this tool
adds: per-epoch histories in each trial directory, TensorBoard logs, the
results tables, the plots and `study.json`.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

# Validation protocols.
TEST_AS_VALIDATION = "test-as-validation"
HOLDOUT_VALIDATION = "holdout-validation"


@dataclasses.dataclass(frozen=True)
class StudySettings:
    """What a run was started with; a resumed run must match it.

    Attributes:
        mode: the search mode (`grid`, ...).
        variants: names of the grid variants, in order (grid mode).
        epochs: training epochs per trial.
        batch_size: training batch size.
        protocol: `TEST_AS_VALIDATION` (the notebook's: validate on the test
            reviews every epoch) or `HOLDOUT_VALIDATION` (validate on a
            held-out part of the training reviews, test once at the end).
        validation_split: held-out fraction under `HOLDOUT_VALIDATION`.
        limit: reviews per split used, or `None` for all.
        data: where the reviews came from.
        backend: the Keras backend that trained the models.
        objective: the metric the search optimizes.
        max_trials: trials of a random or Bayesian search.
        seed: the oracle's seed (random, Bayesian, Hyperband).
        early_stopping: `EarlyStopping` patience, or `None`.
        executions_per_trial: models trained per trial (metrics averaged).
        space: the search space (`hypermodels.space` format), or `None` for
            the grid's.
    """

    mode: str
    variants: tuple[str, ...]
    epochs: int
    batch_size: int
    protocol: str
    validation_split: float | None
    limit: int | None
    data: str
    backend: str
    objective: str = "val_accuracy"
    max_trials: int | None = None
    seed: int | None = None
    early_stopping: int | None = None
    executions_per_trial: int = 1
    space: dict | None = None

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), indent=2)

    @classmethod
    def from_json(cls, text: str) -> StudySettings:
        values = json.loads(text)
        values["variants"] = tuple(values["variants"])
        return cls(**values)

    def differences(self, other: StudySettings) -> list[str]:
        """Names the settings (other than the backend) that differ from `other`."""
        mine, theirs = dataclasses.asdict(self), dataclasses.asdict(other)
        return [k for k in mine if k != "backend" and mine[k] != theirs[k]]


class RunDir:
    """Paths inside one run directory.

    Args:
        root: the run directory, `<logdir>/<run-name>`.
    """

    def __init__(self, root: str | Path):
        self.root = Path(root)

    @property
    def study(self) -> Path:
        return self.root / "study.json"

    @property
    def results_csv(self) -> Path:
        return self.root / "results.csv"

    @property
    def histories_csv(self) -> Path:
        return self.root / "histories.csv"

    @property
    def tensorboard(self) -> Path:
        return self.root / "tensorboard"

    @property
    def plots(self) -> Path:
        return self.root / "plots"

    def trial_dir(self, trial_id: str) -> Path:
        """Keras Tuner's directory for a trial."""
        return self.root / f"trial_{trial_id}"

    def history_csv(self, trial_id: str, execution: int) -> Path:
        return self.trial_dir(trial_id) / f"history_{execution}.csv"

    def test_metrics(self, trial_id: str, execution: int) -> Path:
        return self.trial_dir(trial_id) / f"test_metrics_{execution}.json"

    @property
    def best_model(self) -> Path:
        """The best trial's model, saved with what it needs to read raw text."""
        return self.root / "best_model"

    def read_settings(self) -> StudySettings:
        return StudySettings.from_json(self.study.read_text())

    def write_settings(self, settings: StudySettings) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        self.study.write_text(settings.to_json() + "\n")
