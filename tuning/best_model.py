"""The best trial's model on disk, with what it needs to score raw text."""

from __future__ import annotations

import json
import logging
import shutil
import warnings
from pathlib import Path

import keras
import keras_tuner as kt

from tuning.errors import UsageError
from tuning.run_dir import RunDir
from tuning.trials import trial_label

logger = logging.getLogger(__name__)

MODEL_FILE = "model.keras"
VOCABULARY_FILE = "word_index.json"
TRIAL_FILE = "trial.json"


def export_best_model(tuner: kt.Tuner, run_dir: RunDir, word_index: dict) -> None:
    """Saves the best trial's model at its best epoch into `RUN_DIR/best_model/`.

    Writes `model.keras` (Keras format), the tokenizer's `word_index.json`,
    and `trial.json` (trial id, label, hyperparameters, objective, score)
    into a temporary directory, then renames it into place, so that a reader
    (or a kill) never sees a part of them. Does nothing when no trial
    completed: Keras Tuner's `get_best_trials` would pad with failed ones.
    """
    best_trials = [
        trial
        for trial in tuner.oracle.get_best_trials(1)
        if trial.status == kt.engine.trial.TrialStatus.COMPLETED
    ]
    if not best_trials:
        logger.warning("No completed trial: no best model to save.")
        return
    trial = best_trials[0]
    with warnings.catch_warnings():
        # The checkpoint holds the trained optimizer's state, which a freshly
        # built model has no variables for yet; only the weights matter here.
        warnings.filterwarnings("ignore", message="Skipping variable loading")
        trained = tuner.load_model(trial)
    # A plain `keras.Sequential` (the trained one is a `ScannedSequential`),
    # so that any Keras loads the file without this package.
    model = keras.Sequential.from_config(trained.get_config())
    model.set_weights(trained.get_weights())
    directory = run_dir.root / f".{run_dir.best_model.name}.partial"
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir()
    model.save(directory / MODEL_FILE)
    (directory / VOCABULARY_FILE).write_text(json.dumps(word_index))
    (directory / TRIAL_FILE).write_text(
        json.dumps(
            {
                "trial_id": trial.trial_id,
                "label": trial_label(trial.trial_id, trial.hyperparameters.values),
                "hyperparameters": trial.hyperparameters.values,
                "objective": tuner.oracle.objective.name,
                "score": trial.score,
            },
            indent=2,
        )
        + "\n"
    )
    _replace_directory(directory, run_dir.best_model)


def _replace_directory(new: Path, target: Path) -> None:
    """Puts the complete directory `new` in `target`'s place.

    Two renames: the old directory aside, the new one in. Between them a
    reader finds no directory (and says so), never a partial one.
    """
    old = target.with_name(f".{target.name}.old")
    shutil.rmtree(old, ignore_errors=True)
    if target.exists():
        target.rename(old)
    new.rename(target)
    shutil.rmtree(old, ignore_errors=True)


def load_best_model(run_dir: RunDir) -> tuple[keras.Model, dict[str, int]]:
    """Loads the best model (Keras safe mode: no code from the file runs) and
    its word index.

    Raises:
        UsageError: if either cannot be read, or safe mode refuses the model.
    """
    directory = run_dir.best_model
    try:
        model = keras.saving.load_model(
            directory / MODEL_FILE, compile=False, safe_mode=True
        )
        word_index = json.loads((directory / VOCABULARY_FILE).read_text())
    except Exception as e:  # a damaged file raises any of a dozen types
        reason = (str(e).strip().splitlines() or [""])[0]
        raise UsageError(
            f"Cannot load the best model in {str(directory)!r} "
            f"({type(e).__name__}: {reason[:200]}). Run the search again "
            "(with --overwrite if needed) to export it anew."
        ) from None
    return model, word_index
