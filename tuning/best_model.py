"""The best trial's model on disk, with what it needs to score raw text."""

from __future__ import annotations

import json
import logging
import warnings

import keras
import keras_tuner as kt

from tuning.run_dir import RunDir, write_text_atomically
from tuning.trials import trial_label

logger = logging.getLogger(__name__)

MODEL_FILE = "model.keras"
VOCABULARY_FILE = "word_index.json"
TRIAL_FILE = "trial.json"


def export_best_model(tuner: kt.Tuner, run_dir: RunDir, word_index: dict) -> None:
    """Saves the best trial's model at its best epoch into `RUN_DIR/best_model/`.

    Writes `model.keras` (Keras format), the tokenizer's `word_index.json`,
    and `trial.json` (trial id, label, hyperparameters, objective, score).
    Does nothing when no trial completed.
    """
    best_trials = tuner.oracle.get_best_trials(1)
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
    directory = run_dir.best_model
    directory.mkdir(parents=True, exist_ok=True)
    model.save(directory / MODEL_FILE)
    write_text_atomically(directory / VOCABULARY_FILE, json.dumps(word_index))
    write_text_atomically(
        directory / TRIAL_FILE,
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
        + "\n",
    )


def load_best_model(run_dir: RunDir) -> tuple[keras.Model, dict[str, int]]:
    """Loads the best model (Keras safe mode: no code from the file runs) and
    its word index."""
    directory = run_dir.best_model
    model = keras.saving.load_model(
        directory / MODEL_FILE, compile=False, safe_mode=True
    )
    word_index = json.loads((directory / VOCABULARY_FILE).read_text())
    return model, word_index
