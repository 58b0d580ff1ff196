"""Runs one study: data, tuner and search, then the analysis and its outputs."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import math
import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import keras
import keras_tuner as kt

from hypermodels import SentimentHyperModel
from tuning.analysis import Analysis, analyze_run
from tuning.best_model import export_best_model
from tuning.board_outputs import write_report_to_board, write_verdicts
from tuning.data import holdout_split, load_imdb
from tuning.errors import StudyStopped, UsageError
from tuning.figures import write_figures
from tuning.files import write_text_atomically
from tuning.grouped import device_description, runs_at_once
from tuning.importance import assess
from tuning.importance_outputs import (
    write_importance_figures,
    write_importance_table,
)
from tuning.modes import make_oracle
from tuning.reports import write_report
from tuning.run_dir import RunDir
from tuning.runtime import outliving_objects_frozen
from tuning.settings import NUM_WORDS, SEQUENCE_LENGTH, StudySettings
from tuning.tables import write_tables
from tuning.text import load_word_index
from tuning.tuner import EVALUATION_BATCH_SIZE, StudyTuner, WriteFailed

if TYPE_CHECKING:
    from tuning.distributed.cluster import ClusterOptions

logger = logging.getLogger(__name__)

SPLIT_SEED = 0


def run_study(
    run_dir: RunDir,
    settings: StudySettings,
    overwrite: bool = False,
    verbose: int = 2,
    cluster: ClusterOptions | None = None,
) -> Analysis:
    """Trains the study's trials (resuming a started run), analyses them and
    writes every output: tables, figures, report and best model.

    Args:
        run_dir: the run directory.
        settings: the study's settings, resolved; written to `study.json`.
        overwrite: discard an existing run first. Defaults to `False`.
        verbose: Keras `fit` verbosity; 0 also silences Keras Tuner.
        cluster: how to distribute the trials over workers; `None` trains
            them in this process.

    Returns:
        The analysis the outputs render.
    """
    training = _Training.load(settings, verbose)
    # Needed only at the end, for the best model: fetched now, so that a
    # missing word index stops the study before it trains.
    word_index = load_word_index(settings.data_path)
    if overwrite:
        run_dir.clear()
    oracle = make_oracle(
        settings, lambda look: analyze_run(run_dir, settings).open_at(look)
    )
    tuner = _tuner(run_dir, settings, oracle, training)
    with outliving_objects_frozen(), _stopped_by_write_errors(run_dir):
        run_dir.search_ended.unlink(missing_ok=True)  # until it ends again
        run_dir.write_settings(settings)
        if cluster is None:
            tuner.search(*training.arguments, **training.keywords)
        else:
            from tuning.distributed.launch import lead_search

            # What `tuner.search` sets on a chief's oracle, which serves here
            # instead: whether it prints Keras Tuner's trial tables.
            tuner.oracle.verbose = verbose
            lead_search(tuner, run_dir, cluster)
        analysis = analyze_run(run_dir, settings)
        write_text_atomically(
            run_dir.search_ended, json.dumps({"trials": len(analysis.trials)}) + "\n"
        )
        importance = assess(analysis)
        write_tables(run_dir, analysis)
        write_importance_table(run_dir, importance)
        write_verdicts(run_dir, analysis)
        figures = write_figures(run_dir, analysis)
        figures += write_importance_figures(run_dir, analysis, importance)
        report = write_report(run_dir, analysis, figures, importance)
        write_report_to_board(run_dir, report, figures)
        export_best_model(tuner, run_dir, analysis, word_index)
    return analysis


def run_worker(
    run_dir: RunDir,
    settings: StudySettings,
    connect: Callable[[kt.Oracle], kt.Oracle],
    verbose: int = 2,
) -> None:
    """Trains the trials that the run's chief hands out, until it has none.

    Keras Tuner's `KERASTUNER_*` variables must be set (a worker's id among
    them), so that the tuner neither loads nor saves the chief's oracle.

    Args:
        run_dir: the run directory, shared with the chief.
        settings: the study's settings, as the chief wrote them.
        connect: the client that stands in for the study's oracle.
        verbose: Keras `fit` verbosity.
    """
    training = _Training.load(settings, verbose)
    oracle = make_oracle(settings)
    tuner = _tuner(run_dir, settings, oracle, training)
    tuner.oracle = connect(oracle)
    with outliving_objects_frozen(), _stopped_by_write_errors(run_dir):
        tuner.search(*training.arguments, **training.keywords)


@dataclasses.dataclass(frozen=True)
class _Training:
    """The data a search trains on, and how: `tuner.search`'s arguments."""

    arguments: tuple
    keywords: dict
    test_data: tuple | None

    @classmethod
    def load(cls, settings: StudySettings, verbose: int) -> _Training:
        data = load_imdb(settings.data_path, NUM_WORDS, SEQUENCE_LENGTH)
        if settings.limit:
            _check_limit(settings.limit, len(data.y_train), data.source)
            data = data.head(settings.limit)
        logger.info(
            "Data: %d training and %d test reviews from %s",
            len(data.y_train),
            len(data.y_test),
            data.source,
        )
        logger.info("Training on %s", _device(settings))
        train, test = (data.x_train, data.y_train), (data.x_test, data.y_test)
        if settings.validation_split:
            train, validation = holdout_split(
                *train, settings.validation_split, SPLIT_SEED
            )
            _check_split(settings, len(train[1]), len(validation[1]))
            test_data = test
        else:
            validation, test_data = test, None
        keywords = {
            "validation_data": validation,
            "epochs": settings.epochs,
            "batch_size": settings.batch_size,
            "validation_batch_size": EVALUATION_BATCH_SIZE,
            "verbose": verbose,
        }
        return cls(train, keywords, test_data)


def _device(settings: StudySettings) -> str:
    """Where and how the runs train, in words."""
    backend = keras.backend.backend()
    if backend != "jax":
        return f"{backend}'s default device, one run at a time"
    at_once = runs_at_once(settings.runs_at_once, backend)
    if at_once is None:
        runs = "all of a trial's runs at once"
    elif at_once == 1:
        runs = "one run at a time"
    else:
        runs = f"up to {at_once} runs of a trial at once"
    return f"{device_description()} with JAX, {runs}"


@contextlib.contextmanager
def _stopped_by_write_errors(run_dir: RunDir) -> Iterator[None]:
    """Turns a write that failed (a full disk, a directory made read-only)
    into one line that names it, exit status 1: what finished is kept, the
    trial it interrupted stays running, and the same command resumes.

    Raises:
        StudyStopped: for an `OSError` in the block.
    """
    try:
        yield
    except (OSError, WriteFailed) as e:
        error = e.error if isinstance(e, WriteFailed) else e
        _close_hdf5_files(run_dir)
        where, reason = _what_failed(error)
        raise StudyStopped(
            f"Cannot write {where or str(run_dir.root)!r} ({reason}). Free space "
            "there (or make it writable), then run the same command to resume; "
            "what finished is kept."
        ) from None


# HDF5 (h5py, under Keras' weights files) puts the C library's errno and
# file name in its message instead of the `OSError`'s attributes.
_HDF5_ERRNO = re.compile(r"errno = (\d+)")
_HDF5_FILE = re.compile(r"filename = '([^']*)'")


def _what_failed(error: OSError) -> tuple[str | None, str]:
    """The file a failed write was to, if known, and why, in one line."""
    text = str(error)
    number = error.errno or int((_HDF5_ERRNO.search(text) or [0, 0])[1])
    reason = os.strerror(number) if number else " ".join(text.split())[:200]
    where = error.filename or (_HDF5_FILE.search(text) or [None, None])[1]
    return where, reason


def _close_hdf5_files(run_dir: RunDir) -> None:
    """Closes the HDF5 file a failed write left open in the run (Keras
    writes a checkpoint through one). HDF5 would flush it again as the
    process exits, fail, and crash; emptied first, it closes. An empty
    checkpoint is a damaged one, which the resumed trial trains again
    (`StudyTuner`)."""
    import h5py

    open_ids = h5py.h5f.get_obj_ids(types=h5py.h5f.OBJ_ALL)
    files = [i for i in open_ids if isinstance(i, h5py.h5f.FileID)]
    ours = [f for f in files if run_dir.root.resolve() in _path(f).parents]
    if not ours:
        return
    for file_id in ours:
        os.ftruncate(file_id.get_vfd_handle(), 0)
    # The datasets and groups first, then the files: a write is under way in
    # this process only while a checkpoint is saved, so they are its.
    for object_id in sorted(open_ids, key=lambda i: isinstance(i, h5py.h5f.FileID)):
        with contextlib.suppress(Exception):
            while object_id.valid:
                object_id.close()


def _path(file_id) -> Path:
    return Path(file_id.name.decode()).resolve()


def _check_limit(limit: int, reviews: int, source: str) -> None:
    """Refuses a --limit past the data, which the report would quote as the
    reviews trained on."""
    if limit > reviews:
        raise UsageError(
            f"--limit {limit} is more than the {reviews} training reviews of "
            f"{source}. Pass at most {reviews}, or drop --limit to use them all."
        )


def _check_split(settings: StudySettings, fit: int, held_out: int) -> None:
    """Refuses a validation split that leaves less than one batch to train
    on, or no review to validate on.

    Raises:
        UsageError: naming the counts and the fix.
    """
    if fit >= settings.batch_size and held_out >= 1:
        return
    more = " or a larger --limit" if settings.limit else ""
    raise UsageError(
        f"--validation-split {settings.validation_split:g} of {fit + held_out} "
        f"training reviews leaves {fit} to train on and {held_out} to validate "
        f"on; a study needs at least {settings.batch_size} (one batch) and 1. "
        f"Pass another --validation-split{more}."
    )


def _tuner(
    run_dir: RunDir, settings: StudySettings, oracle: kt.Oracle, training: _Training
) -> StudyTuner:
    # On TensorFlow and torch, Keras runs an epoch's batches in one compiled
    # call; on JAX, `tuning.grouped` trains whole epochs by itself.
    _, y = training.arguments
    hypermodel = SentimentHyperModel(
        settings.space,
        vocab_size=NUM_WORDS,
        steps_per_execution=math.ceil(len(y) / settings.batch_size),
    )
    return StudyTuner(oracle, hypermodel, run_dir, settings, training.test_data)
