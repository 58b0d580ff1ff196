"""Where a run keeps its files.

A run directory (`logs/<run-name>/`) is Keras Tuner's project directory
(`oracle.json`, `tuner0.json`, `trial_<id>/trial.json`) plus what this tool
adds: per-run histories and records in each trial directory, TensorBoard
logs, the results tables, the plots and `study.json`.
"""

from __future__ import annotations

import os
from pathlib import Path

from tuning.settings import StudySettings


def write_text_atomically(path: Path, text: str) -> None:
    """Writes `text` to a temporary name beside `path`, then renames it.

    A reader, or a run killed mid-write, sees the old file or the new one,
    never a part.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_text(text)
    temporary.replace(path)


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
    def oracle(self) -> Path:
        """Keras Tuner's search state."""
        return self.root / "oracle.json"

    @property
    def results_csv(self) -> Path:
        return self.root / "results.csv"

    @property
    def runs_csv(self) -> Path:
        return self.root / "runs.csv"

    @property
    def histories_csv(self) -> Path:
        return self.root / "histories.csv"

    @property
    def report(self) -> Path:
        return self.root / "report.md"

    @property
    def tensorboard(self) -> Path:
        return self.root / "tensorboard"

    @property
    def plots(self) -> Path:
        return self.root / "plots"

    def trial_dir(self, trial_id: str) -> Path:
        """Keras Tuner's directory for a trial."""
        return self.root / f"trial_{trial_id}"

    def history_csv(self, trial_id: str, repeat: int) -> Path:
        """A training run's per-epoch history, written as it trains."""
        return self.trial_dir(trial_id) / f"history_{repeat}.csv"

    def repeat_record(self, trial_id: str, repeat: int) -> Path:
        """A finished training run's seed (and test metrics); absent until then."""
        return self.trial_dir(trial_id) / f"repeat_{repeat}.json"

    @property
    def best_model(self) -> Path:
        """The best trial's model, saved with what it needs to read raw text."""
        return self.root / "best_model"

    def read_settings(self) -> StudySettings:
        return StudySettings.from_json(self.study.read_text(), str(self.study))

    def write_settings(self, settings: StudySettings) -> None:
        write_text_atomically(self.study, settings.to_json() + "\n")
