"""The best trial's model on disk, with what it needs to score raw text."""

from __future__ import annotations

import json
import logging
import shutil
import warnings
from pathlib import Path

import keras
import keras_tuner as kt

from tuning.analysis import Analysis
from tuning.errors import UsageError
from tuning.run_dir import ModelDir, RunDir
from tuning.text import check_word_index

logger = logging.getLogger(__name__)


def export_best_model(
    tuner: kt.Tuner, run_dir: RunDir, analysis: Analysis, word_index: dict
) -> None:
    """Saves the best trial's model at its best epoch into `RUN_DIR/best_model/`.

    The best trial is the analysis' (the best mean objective over its runs,
    as Keras Tuner scores it), and the weights are its checkpoint's: the
    epoch of the best objective over all its runs. Writes `model.keras`
    (Keras format), the tokenizer's `word_index.json`, and `trial.json`
    (trial, run and epoch, hyperparameters, objective and its values) into
    a temporary directory, then renames it into place, so that a reader (or
    a kill) never sees a part of them. Does nothing when no trial completed.
    """
    best = analysis.best_trial
    if best is None:
        logger.warning("No completed trial: no best model to save.")
        return
    objective = analysis.objective
    run = best.runs[objective.best_index([r.metrics["objective"] for r in best.runs])]
    # With --repeats auto, the trial of the round that trained that run.
    trial = tuner.oracle.get_trial(run.trial_id or best.record.trial_id)
    with warnings.catch_warnings():
        # The checkpoint holds the trained optimizer's state, which a freshly
        # built model has no variables for yet; only the weights matter here.
        warnings.filterwarnings("ignore", message="Skipping variable loading")
        trained = tuner.load_model(trial)
    # An uncompiled copy: the file holds the architecture and the weights,
    # not the training configuration.
    model = keras.Sequential.from_config(trained.get_config())
    model.set_weights(trained.get_weights())
    description = {
        "trial_id": best.record.trial_id,
        "label": best.label,
        "hyperparameters": trial.hyperparameters.values,
        "objective": objective.name,
        "direction": objective.direction,
        "score": best.summaries["objective"].mean,
        "repeat": run.repeat,
        "epoch": run.best_epoch,
        "value": run.metrics["objective"],
    }
    partial = run_dir.best_model_partial
    shutil.rmtree(partial.root, ignore_errors=True)
    try:
        _write_model(partial, model, word_index, description)
        _replace_directory(
            partial.root, run_dir.best_model.root, run_dir.best_model_replaced.root
        )
    finally:  # cut short (a full disk, a kill): no part is left behind
        shutil.rmtree(partial.root, ignore_errors=True)


def _write_model(
    directory: ModelDir, model: keras.Model, word_index: dict, description: dict
) -> None:
    directory.root.mkdir()
    model.save(directory.model)
    directory.vocabulary.write_text(json.dumps(word_index))
    directory.description.write_text(json.dumps(description, indent=2) + "\n")


def _replace_directory(new: Path, target: Path, old: Path) -> None:
    """Puts the complete directory `new` in `target`'s place.

    Two renames: the old directory aside (to `old`), the new one in. Between
    them a reader finds no directory (and says so), never a partial one.
    """
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
    try:
        model = keras.saving.load_model(
            run_dir.best_model.model, compile=False, safe_mode=True
        )
        word_index = check_word_index(run_dir.best_model.vocabulary)
    except Exception as e:  # a damaged file raises any of a dozen types
        reason = (str(e).strip().splitlines() or [""])[0]
        raise UsageError(
            f"Cannot load the best model in {str(run_dir.best_model.root)!r} "
            f"({type(e).__name__}: {reason[:200]}). Run the search again "
            "(with --overwrite if needed) to export it anew."
        ) from None
    return model, word_index
