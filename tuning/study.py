"""Runs one study: data, tuner and search, then the reports and plots."""

from __future__ import annotations

import logging

import keras

from hypermodels import SentimentHyperModel
from tuning.best_model import export_best_model
from tuning.data import holdout_split, load_imdb, load_word_index
from tuning.modes import make_oracle
from tuning.plots import write_plots
from tuning.reports import write_markdown_report, write_reports
from tuning.run_dir import RunDir
from tuning.scanned import STEPS_PER_EXECUTION, ScannedSequential
from tuning.settings import NUM_WORDS, SEQUENCE_LENGTH, StudySettings
from tuning.tuner import EVALUATION_BATCH_SIZE, StudyTuner

logger = logging.getLogger(__name__)

SPLIT_SEED = 0


def run_study(
    run_dir: RunDir,
    settings: StudySettings,
    overwrite: bool = False,
    verbose: int = 2,
) -> list[dict]:
    """Trains the study's trials (resuming a started run) and writes its reports.

    Args:
        run_dir: the run directory.
        settings: the study's settings, resolved; written to `study.json`.
        overwrite: discard an existing run first. Defaults to `False`.
        verbose: Keras `fit` verbosity; 0 also silences Keras Tuner.

    Returns:
        The rows of the results table.
    """
    data = load_imdb(settings.data_path, NUM_WORDS, SEQUENCE_LENGTH)
    # Needed only at the end, for the best model: fetched now, so that a
    # missing word index stops the study before it trains.
    word_index = load_word_index(settings.data_path)
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

    hypermodel = SentimentHyperModel(
        settings.space,
        vocab_size=NUM_WORDS,
        sequential=ScannedSequential,
        steps_per_execution=STEPS_PER_EXECUTION,
    )
    if overwrite:
        run_dir.clear()
    tuner = StudyTuner(
        make_oracle(settings), hypermodel, run_dir, settings, test_data=test_data
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
    rows = write_reports(run_dir, settings)
    write_markdown_report(run_dir, settings, rows, write_plots(run_dir, settings))
    export_best_model(tuner, run_dir, word_index)
    return rows
