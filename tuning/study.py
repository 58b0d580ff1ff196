"""Runs one study: data, tuner and search, then the reports and plots."""

from __future__ import annotations

import logging
from pathlib import Path

import keras

from hypermodels import VARIANTS_BY_NAME, SentimentHyperModel
from tuning.best_model import export_best_model
from tuning.data import holdout_split, load_imdb, load_word_index
from tuning.oracles import make_oracle
from tuning.plot import write_plots
from tuning.reports import write_markdown_report, write_reports
from tuning.run_dir import RunDir, StudySettings
from tuning.tuner import EVALUATION_BATCH_SIZE, StudyTuner

logger = logging.getLogger(__name__)

SPLIT_SEED = 0


def run_study(
    run_dir: RunDir,
    settings: StudySettings,
    data_path: Path | None,
    overwrite: bool = False,
    verbose: int = 2,
) -> list[dict]:
    """Trains the study's trials (resuming a started run) and writes its reports.

    Args:
        run_dir: the run directory.
        settings: the study's settings; written to `study.json`.
        data_path: a local `imdb.npz`, or `None` to download.
        overwrite: discard an existing run first. Defaults to `False`.
        verbose: Keras `fit` verbosity; 0 also silences Keras Tuner.

    Returns:
        The rows of the results table.
    """
    data = load_imdb(data_path)
    if settings.limit:
        data = data.head(settings.limit)
    logger.info(
        "Data: %d training and %d test reviews from %s (backend: %s)",
        len(data.y_train),
        len(data.y_test),
        data.source,
        keras.backend.backend(),
    )
    train, test = (data.x_train, data.y_train), (data.x_test, data.y_test)
    if settings.validation_split:
        train, validation = holdout_split(*train, settings.validation_split, SPLIT_SEED)
        test_data = test
    else:
        validation, test_data = test, None

    oracle = make_oracle(
        settings.mode,
        objective=settings.objective,
        variants=[VARIANTS_BY_NAME[name] for name in settings.variants],
        max_trials=settings.max_trials,
        epochs=settings.epochs,
        seed=settings.seed,
    )
    tuner = StudyTuner(
        oracle,
        SentimentHyperModel(settings.space),
        run_dir,
        test_data=test_data,
        early_stopping=settings.early_stopping,
        executions_per_trial=settings.executions_per_trial,
        overwrite=overwrite,
    )
    run_dir.write_settings(settings)
    tuner.search(
        *train,
        validation_data=validation,
        epochs=settings.epochs,
        batch_size=settings.batch_size,
        validation_batch_size=EVALUATION_BATCH_SIZE,
        verbose=verbose,
    )
    rows = write_reports(run_dir)
    write_markdown_report(run_dir, rows, write_plots(run_dir))
    export_best_model(tuner, run_dir, load_word_index(data_path))
    return rows
