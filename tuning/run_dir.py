"""A run directory: every path in it, its lock, and its saved settings.

A run directory (`logs/<run-name>/`) is Keras Tuner's project directory
(`oracle.json`, `tuner0.json`, `trial_<id>/trial.json`, the checkpoints)
plus what this tool adds: per-run histories and records in each trial
directory, TensorBoard logs, the tables, the report, the figures, the best
model and `study.json`. `ComparisonDir` is the directory that
`tuning.compare` writes. No other module spells out a file name in either.
"""

from __future__ import annotations

import contextlib
import datetime
import fcntl
import json
import os
import shutil
import socket
import sys
from collections.abc import Iterator
from pathlib import Path

from tuning.errors import UsageError
from tuning.files import write_text_atomically
from tuning.settings import StudySettings

# Inside a run directory while a process owns it: who, for the next one's message.
OWNER_FILE = ".owner"


class ModelDir:
    """Paths inside a saved model's directory (`RUN_DIR/best_model/`).

    Args:
        root: the directory.
    """

    def __init__(self, root: Path):
        self.root = root

    @property
    def model(self) -> Path:
        """The model in Keras format."""
        return self.root / "model.keras"

    @property
    def vocabulary(self) -> Path:
        """The tokenizer's word index, to score raw text."""
        return self.root / "word_index.json"

    @property
    def description(self) -> Path:
        """Which trial, run and epoch the model is, under which objective."""
        return self.root / "trial.json"


class ComparisonDir:
    """Paths inside the directory `tuning.compare` writes two studies into.

    Args:
        root: the directory.
    """

    def __init__(self, root: Path):
        self.root = root

    @property
    def table(self) -> Path:
        """One row per configuration trained in both studies."""
        return self.root / "compare.csv"

    @property
    def report(self) -> Path:
        return self.root / "compare.md"

    @property
    def figure(self) -> Path:
        """Each configuration's difference with its interval."""
        return self.root / "compare.png"


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
    def search_ended(self) -> Path:
        """Written when the search has run to its end (its trial count);
        absent while it runs, and after it was stopped."""
        return self.root / "search_ended.json"

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
    def importance_csv(self) -> Path:
        return self.root / "importance.csv"

    @property
    def report(self) -> Path:
        return self.root / "report.md"

    @property
    def tensorboard(self) -> Path:
        return self.root / "tensorboard"

    @property
    def board_report(self) -> Path:
        """The TensorBoard run that shows the report and figures."""
        return self.tensorboard / "report"

    @property
    def board_report_partial(self) -> Path:
        """Where the report's TensorBoard run is written before it replaces the last."""
        return self.tensorboard / ".report.partial"

    @property
    def plots(self) -> Path:
        return self.root / "plots"

    def figure(self, name: str) -> Path:
        """A figure, by its name (`val_accuracy`, `comparison`, ...)."""
        return self.plots / f"{name}.png"

    def trial_dir(self, trial_id: str) -> Path:
        """Keras Tuner's directory for a trial."""
        return self.root / f"trial_{trial_id}"

    def history_csv(self, trial_id: str, repeat: int) -> Path:
        """A training run's per-epoch history, written as it trains."""
        return self.trial_dir(trial_id) / f"history_{repeat}.csv"

    def trial_file(self, trial_id: str) -> Path:
        """Keras Tuner's record of a trial: status, hyperparameters, metrics."""
        return self.trial_dir(trial_id) / "trial.json"

    def checkpoint(self, trial_id: str) -> Path:
        """The weights of a trial's best epoch over its runs (Keras Tuner's name)."""
        return self.trial_dir(trial_id) / "checkpoint.weights.h5"

    def repeats(self, trial_id: str) -> list[int]:
        """The runs of a trial that have a history or a run record, by their
        index: a finished run whose history was lost is still found."""
        directory = self.trial_dir(trial_id)
        found = {
            path.stem.removeprefix(prefix)
            for pattern, prefix in (
                ("history_*.csv", "history_"),
                ("repeat_*.json", "repeat_"),
            )
            for path in directory.glob(pattern)
        }
        return sorted(int(repeat) for repeat in found if repeat.isdigit())

    def run_record(self, trial_id: str, repeat: int) -> Path:
        """A finished training run's seed (and test metrics); absent until then."""
        return self.trial_dir(trial_id) / f"repeat_{repeat}.json"

    def board_dir(self, label: str, repeat: int, repeats: int) -> Path:
        """A run's TensorBoard directory: one per trial, or per run of a
        trial with repeats, so that TensorBoard lists each as a run."""
        directory = self.tensorboard / label
        return directory / f"repeat_{repeat}" if repeats > 1 else directory

    @property
    def chief_file(self) -> Path:
        """The chief's address and the run's secret, for workers (owner-only)."""
        return self.root / ".chief.json"

    def worker_log(self, worker_id: str) -> Path:
        """The output of a worker that `--workers N` started."""
        return self.root / "workers" / f"{worker_id}.log"

    @property
    def best_model(self) -> ModelDir:
        """The best trial's model, saved with what it needs to read raw text."""
        return ModelDir(self.root / "best_model")

    @property
    def best_model_partial(self) -> ModelDir:
        """Where the best model is written before it is renamed into place."""
        return ModelDir(self.root / ".best_model.partial")

    @property
    def best_model_replaced(self) -> ModelDir:
        """Where the last best model waits while the new one is renamed in."""
        return ModelDir(self.root / ".best_model.old")

    @contextlib.contextmanager
    def owned(self) -> Iterator[None]:
        """Holds the run directory for this process alone, until the block ends.

        The lock is the OS's (`flock` on the directory), so a killed run
        leaves none behind. Directories this call creates are removed again
        if the block leaves them empty (a run refused before it wrote).

        Raises:
            UsageError: if another process holds the directory, or if it
                cannot be created or written.
        """
        created = _make_directories(self.root)
        descriptor = os.open(self.root, os.O_RDONLY)
        owner = self.root / OWNER_FILE
        try:
            try:
                fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = owner.read_text().strip() if owner.is_file() else "?"
                raise UsageError(
                    f"Run {str(self.root)!r} is in use by another run ({holder}). "
                    "Wait for it to end, or choose another --run-name."
                ) from None
            try:
                write_text_atomically(owner, _describe_this_process() + "\n")
            except OSError as e:
                raise UsageError(
                    f"Cannot write to {str(self.root)!r} ({e.strerror}). Pass a "
                    "writable --logdir."
                ) from None
            try:
                yield
            finally:
                owner.unlink(missing_ok=True)
        finally:
            for directory in reversed(created):
                with contextlib.suppress(OSError):
                    directory.rmdir()  # only if empty
            os.close(descriptor)

    def clear(self) -> None:
        """Deletes the run's files (`--overwrite`), keeping the directory and
        its lock, which Keras Tuner's own `overwrite` would delete."""
        for path in self.root.iterdir():
            if path.name == OWNER_FILE:
                continue
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            else:
                path.unlink()

    def check_state(self) -> None:
        """Reads every JSON file a resumed run depends on.

        Raises:
            UsageError: naming a truncated or garbled file, and `--overwrite`.
        """
        for path in [*self.root.glob("*.json"), *self.root.glob("trial_*/*.json")]:
            try:
                json.loads(path.read_text())
            except (ValueError, UnicodeDecodeError) as e:
                raise damaged(path, str(e)) from None

    def read_settings(self) -> StudySettings:
        """The settings of the study that wrote this run directory.

        Raises:
            UsageError: if there are none (not a run directory), or they
                are not readable.
        """
        if not self.study.is_file():
            raise UsageError(
                f"{str(self.root)!r} is not a run directory (no study.json). "
                "Pass one written by `python -m tuning.search`, e.g. logs/grid."
            )
        return StudySettings.from_json(self.study.read_text(), str(self.study))

    def write_settings(self, settings: StudySettings) -> None:
        write_text_atomically(self.study, settings.to_json() + "\n")

    def resumed_settings(self) -> StudySettings | None:
        """The saved settings of the run to resume, after checking its saved
        state; `None` for a new run. Read under `owned`, once per run.

        Raises:
            UsageError: if the directory holds files but no study.json, or a
                damaged file.
        """
        if not self.study.is_file():
            if any(p.name != OWNER_FILE for p in self.root.iterdir()):
                raise UsageError(
                    f"{str(self.root)!r} exists but holds no study.json. Pass "
                    "--overwrite to replace it, or choose another --run-name."
                )
            return None
        self.check_state()
        return self.read_settings()

    def check_resumable(
        self, saved: StudySettings | None, settings: StudySettings
    ) -> None:
        """Refuses to resume, with `settings`, a run started with others.

        Raises:
            UsageError: naming the settings that differ.
        """
        changed = saved.differences(settings) if saved else []
        if changed:
            values = "; ".join(
                f"{name} {_shown(getattr(saved, name))} (now "
                f"{_shown(getattr(settings, name))})"
                for name in changed
            )
            raise UsageError(
                f"Run {str(self.root)!r} was started with {values}. Repeat its "
                "settings to resume it, pass --overwrite to restart it, or "
                "choose another --run-name."
            )


def _shown(value) -> str:
    """A setting's value as a user passed it: `none` for unset."""
    return "none" if value is None else str(value)


def damaged(path: Path, reason: str) -> UsageError:
    """The error for a file of a run that cannot be trusted: it names the
    file, why, and the way out."""
    return UsageError(
        f"{str(path)!r} is damaged ({reason}). Restore it, or train the study "
        "afresh: python -m tuning.search with --overwrite, or another --run-name."
    )


def _make_directories(path: Path) -> list[Path]:
    """Creates `path` and its missing parents; returns those created, outermost first.

    Raises:
        UsageError: if a part of `path` is a file, or cannot be created.
    """
    missing = [p for p in [path, *path.parents] if not p.exists()][::-1]
    try:
        for directory in missing:
            directory.mkdir()
    except OSError as e:
        raise UsageError(
            f"Cannot create the run directory {str(path)!r} ({e.strerror}). Pass "
            "a --logdir that is a writable directory."
        ) from None
    if not path.is_dir():
        raise UsageError(
            f"{str(path)!r} is not a directory. Pass a --logdir that is a "
            "directory, or another --run-name."
        )
    return missing


def _describe_this_process() -> str:
    started = datetime.datetime.now().isoformat(timespec="seconds")
    command = " ".join(["python -m tuning.search", *sys.argv[1:]])
    return f"pid {os.getpid()} on {socket.gethostname()} since {started}: {command}"
