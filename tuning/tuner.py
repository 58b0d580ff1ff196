"""A Keras Tuner `Tuner` that trains each trial's repeats and keeps every epoch."""

from __future__ import annotations

import json
import logging
import math
import shutil

import keras
import keras_tuner as kt
import numpy as np
from keras_tuner.src import config as kt_config

from tuning.callbacks import (
    EpochScalarLogger,
    HParamsLogger,
    StopOnNaN,
    StopOnRequest,
)
from tuning.files import write_text_atomically
from tuning.grouped import DeviceArrays, RunGroup, runs_at_once
from tuning.modes import TrialBudget
from tuning.records import failure_reason, read_history, trial_label
from tuning.rounds import ROUND_KEY
from tuning.run_dir import RunDir
from tuning.settings import StudySettings

logger = logging.getLogger(__name__)

# Evaluation batches (validation every epoch, the test reviews once) change
# neither what is learned nor what is measured: the metrics are means over
# every review. 125 was the fastest on CPU (a batch's embeddings stay in
# cache; benchmarks/README.md), and it divides 25,000, a quick check's 500
# and a 0.2 hold-out's 5,000, so no ragged last batch needs its own compile.
EVALUATION_BATCH_SIZE = 125
# A search whose trials fail this many times in a row stops (Keras Tuner's
# default); the study still writes its results, and a rerun tries again.
MAX_FAILED_IN_A_ROW = 3


def repeat_seed(settings: StudySettings, trial_id: str, repeat: int) -> int:
    """The seed of one training run, derived from the study's seed.

    With `settings.common_seeds`, run k of every trial trains from the same
    seed: the same embedding initialization and the same order of reviews,
    most of what makes one run differ from the next, so that two trials'
    runs of one seed differ mostly by what the trials change (common random
    numbers; docs/statistics.md). Else each trial's runs have their own.
    NumPy's `SeedSequence` mixes the numbers, so neighbouring repeats get
    unrelated seeds, and the same numbers give the same seed.
    """
    trial = [] if settings.common_seeds else [int(trial_id)]
    entropy = [settings.seed, *trial, repeat]
    return int(np.random.SeedSequence(entropy).generate_state(1)[0])


class StudyTuner(kt.Tuner):
    """Trains each trial `settings.repeats` times and records every run.

    Each run (repeat) trains from its own seed (`repeat_seed`), set with
    `keras.utils.set_random_seed` before the model is built, so it covers
    weight initialization, dropout and shuffling. As Keras Tuner's
    `executions_per_trial` does, the objective the oracle sees is the mean
    of the runs' best values, and one `keras.callbacks.ModelCheckpoint`,
    shared by the runs as Keras Tuner shares its `SaveBestEpoch`, keeps the
    trial's best epoch over all of them.

    Per run it writes the full Keras history to
    `trial_<id>/history_<k>.csv` (one row per epoch, flushed as it goes),
    TensorBoard scalars and HParams to `tensorboard/<label>/` (with more
    than one repeat, `tensorboard/<label>/repeat_<k>/`), and when it
    finishes `trial_<id>/repeat_<k>.json` with its seed (and, under a
    validation split, its test metrics). A trial interrupted and retried
    keeps its finished runs and trains only the others.

    A run whose loss turns NaN fails the trial, with the reason, and the
    search goes on; after `MAX_FAILED_IN_A_ROW` failed trials in a row it
    stops, with a warning, and returns normally, so that the study writes its
    results. (Keras Tuner's own limit raises instead, and counts failures
    over the whole saved history, so every rerun of such a search would
    raise again.)

    A Hyperband trial promoted from an earlier one (`TrialBudget.continues`)
    continues from that trial's checkpoint, as Keras Tuner's `Hyperband`
    does, training only the epochs its budget adds.
    Unlike Keras Tuner, which restores only the weights, it restores Adam's
    state too (moments and step count), so that the continuation is the
    training the checkpointed run would have done next.

    Args:
        oracle: the `keras_tuner.Oracle` that proposes trials.
        hypermodel: builds and compiles the models.
        run_dir: the run directory; it is Keras Tuner's project directory.
        settings: the study's settings (`seed`, `repeats`, `early_stopping`).
        test_data: `(x, y)` evaluated once per run, or `None`.
        **kwargs: passed to `keras_tuner.Tuner` (not `executions_per_trial`:
            `settings.repeats` is that).
    """

    def __init__(
        self,
        oracle: kt.Oracle,
        hypermodel: kt.HyperModel,
        run_dir: RunDir,
        settings: StudySettings,
        test_data: tuple | None = None,
        **kwargs,
    ):
        super().__init__(
            oracle,
            hypermodel,
            directory=str(run_dir.root.parent),
            project_name=run_dir.root.name,
            executions_per_trial=settings.repeats,
            **kwargs,
        )
        self.run_dir = run_dir
        self.settings = settings
        self.test_data = test_data
        self.oracle.max_consecutive_failed_trials = None  # see on_trial_end
        self.failed_in_a_row = 0
        self._runs_at_once = runs_at_once(settings.runs_at_once, settings.backend)
        self._device_arrays = DeviceArrays()
        _forget_ended_trials(self.oracle)
        # Keras Tuner prints the traceback of every failed trial; the reason
        # is in the trial's record and results.csv, the traceback for --debug.
        kt_config.DEBUG = logger.isEnabledFor(logging.DEBUG)

    def _populate_initial_space(self) -> None:
        """Declares the space without building a model, where the hypermodel
        declares all of it (`SentimentHyperModel.declare_hyperparameters`).

        Keras Tuner builds the model once, then once more per conditional
        scope not yet entered, to discover the space: three builds before
        the first trial. Keras Tuner keeps this method for subclasses to
        override.
        """
        declares = type(self.hypermodel).declare_hyperparameters
        if declares is kt.HyperModel.declare_hyperparameters:
            return super()._populate_initial_space()
        hp = self.oracle.get_space()
        self.hypermodel.declare_hyperparameters(hp)
        self.oracle.update_space(hp)

    def search(self, *fit_args, **fit_kwargs) -> None:
        """Keras Tuner's search, which ends normally when too many trials
        failed in a row (see `on_trial_end`)."""
        try:
            super().search(*fit_args, **fit_kwargs)
        except _TooManyFailures as stop:
            logger.warning("%s", stop)

    def on_trial_end(self, trial) -> None:
        super().on_trial_end(trial)
        if trial.status != kt.engine.trial.TrialStatus.FAILED:
            self.failed_in_a_row = 0
            return
        self.failed_in_a_row += 1
        if self.failed_in_a_row >= MAX_FAILED_IN_A_ROW:
            raise _TooManyFailures(
                f"Search stopped: {self.failed_in_a_row} trials failed in a row, "
                f"the last with: {failure_reason(trial.message)}"
            )

    def _get_checkpoint_fname(self, trial_id: str) -> str:
        """Where Keras Tuner and the study keep a trial's best weights."""
        return str(self.run_dir.checkpoint(trial_id))

    def run_trial(self, trial, *fit_args, **fit_kwargs) -> list:
        try:
            return self._run_trial(trial, *fit_args, **fit_kwargs)
        except OSError as e:
            raise WriteFailed(e) from e

    def _run_trial(self, trial, *fit_args, **fit_kwargs) -> list:
        repeats = self.repeats(trial)
        self._drop_damaged_checkpoint(trial.trial_id, repeats)
        budget = TrialBudget.of(trial.hyperparameters.values)
        if budget.epochs is not None:
            fit_kwargs = {**fit_kwargs, "epochs": budget.epochs}
        objective = self.settings.objective
        finished = {k: self._finished_run(trial.trial_id, k) for k in repeats}
        finished_values = [
            value
            for history in finished.values()
            if history is not None
            for value in history.history[objective.name]
        ]
        # One checkpoint for all the trial's runs: it keeps the best epoch of
        # any run, those finished before an interruption included.
        checkpoint = keras.callbacks.ModelCheckpoint(
            self._get_checkpoint_fname(trial.trial_id),
            monitor=objective.name,
            mode=objective.direction,
            save_best_only=True,
            save_weights_only=True,
            initial_value_threshold=objective.best(finished_values)
            if finished_values
            else None,
        )
        # It saves at epoch ends only; saying so keeps Keras' asynchronous
        # dispatch of training steps.
        checkpoint.async_safe = True
        unfinished = [k for k, history in finished.items() if history is None]
        size = self._runs_at_once or len(unfinished)
        for start in range(0, len(unfinished), size):
            group = unfinished[start : start + size]
            trained = self._train_runs(trial, group, checkpoint, fit_args, fit_kwargs)
            finished.update(zip(group, trained, strict=True))
        return list(finished.values())

    def repeats(self, trial) -> range:
        """The runs `trial` trains, by index: all `settings.repeats`, or
        with `--repeats auto` those its round adds to its variant's."""
        values = trial.hyperparameters.values
        label = trial_label(trial.trial_id, values)
        return self.settings.runs_of(
            values.get(ROUND_KEY), label == self.settings.reference
        )

    def _drop_damaged_checkpoint(self, trial_id: str, repeats: range) -> None:
        """Starts a trial's runs afresh when its checkpoint cannot be read
        (a write cut short by a full disk or a kill): the finished runs'
        best weights are lost with it, so they train again too."""
        import h5py

        path = self.run_dir.checkpoint(trial_id)
        if not path.exists():
            return
        try:
            h5py.File(path, "r").close()
        except OSError:
            logger.warning("%s is damaged: trial %s trains again.", path, trial_id)
            path.unlink()
            for repeat in repeats:
                self.run_dir.run_record(trial_id, repeat).unlink(missing_ok=True)

    def _finished_run(self, trial_id: str, repeat: int):
        """The history of a run that finished before the search was interrupted."""
        if not self.run_dir.run_record(trial_id, repeat).is_file():
            return None
        history = keras.callbacks.History()
        history.history = read_history(self.run_dir.history_csv(trial_id, repeat))
        history.history.pop("epoch")
        return history

    def _train_runs(self, trial, repeats, checkpoint, fit_args, fit_kwargs) -> list:
        """Trains the runs `repeats` of `trial`: together, as one program, on
        JAX (`tuning.grouped`); one after another on the other backends."""
        hp = trial.hyperparameters
        seeds = [repeat_seed(self.settings, trial.trial_id, k) for k in repeats]
        budget = TrialBudget.of(hp.values)
        previous = budget.continues
        if previous is not None:
            fit_kwargs = {**fit_kwargs, "initial_epoch": budget.initial_epoch}
        callbacks = [self._callbacks(trial, repeat) for repeat in repeats]
        models = (self._seeded_model(hp, seed, previous) for seed in seeds)
        if keras.backend.backend() == "jax":
            histories, tests = self._train_together(
                models, callbacks, checkpoint, fit_args, fit_kwargs
            )
        else:
            histories, tests = [], []
            for model, run_callbacks in zip(models, callbacks, strict=True):
                histories.append(
                    self.hypermodel.fit(
                        hp,
                        model,
                        *fit_args,
                        callbacks=[*run_callbacks, checkpoint],
                        **fit_kwargs,
                    )
                )
                if self.test_data:
                    tests.append(self._evaluate_on_test(model))
        for k, (repeat, seed, history) in enumerate(
            zip(repeats, seeds, histories, strict=True)
        ):
            _fail_on_nan(history)
            record = {"seed": seed}
            if tests:
                record["test"] = {f"test_{m}": v for m, v in tests[k].items()}
            write_text_atomically(
                self.run_dir.run_record(trial.trial_id, repeat),
                json.dumps(record) + "\n",
            )
        return histories

    def _train_together(self, models, callbacks, checkpoint, fit_args, fit_kwargs):
        """Trains `models` as one `RunGroup`, with `fit`'s arguments;
        returns their histories and their metrics on the test data, if any.
        The models are built one by one as the group takes them, so that
        each is built right after its seed is set."""
        batch_size = fit_kwargs.get("batch_size") or self.settings.batch_size
        group = RunGroup(
            *fit_args,
            validation_data=fit_kwargs["validation_data"],
            batch_size=batch_size,
            validation_batch_size=fit_kwargs.get("validation_batch_size") or batch_size,
            device_arrays=self._device_arrays,
        )
        for model in models:
            group.add(model)
        histories = group.fit(
            fit_kwargs.get("epochs", 1),
            callbacks,
            initial_epoch=fit_kwargs.get("initial_epoch", 0),
            checkpoint=checkpoint,
            verbose=fit_kwargs.get("verbose", "auto"),
        )
        tests = group.evaluate(*self.test_data) if self.test_data else []
        return histories, tests

    def _seeded_model(self, hp, seed: int, previous: str | None) -> keras.Model:
        """A new model from `seed`, which also seeds its dropout and the
        order its reviews are shuffled in; continuing Hyperband's
        `previous` trial if one is given."""
        keras.utils.set_random_seed(seed)
        model = self._try_build(hp)
        if previous is not None:
            _continue_from(model, self._get_checkpoint_fname(previous))
        return model

    def _callbacks(self, trial, repeat: int) -> list[keras.callbacks.Callback]:
        objective = self.settings.objective
        label = trial_label(trial.trial_id, trial.hyperparameters.values)
        board_dir = self.run_dir.board_dir(label, repeat, self.settings.repeats)
        # A run trained again after an interruption starts its logs afresh.
        for split in EpochScalarLogger.SPLITS:
            shutil.rmtree(board_dir / split, ignore_errors=True)
        # Only epoch-level callbacks: a batch hook costs time even though it
        # fires once per compiled call (a whole epoch, `tuning.grouped`).
        callbacks = [
            StopOnNaN(),
            keras.callbacks.CSVLogger(
                str(self.run_dir.history_csv(trial.trial_id, repeat))
            ),
            EpochScalarLogger(str(board_dir)),
            HParamsLogger(
                str(board_dir),
                trial.hyperparameters.values,
                session_name=board_dir.relative_to(self.run_dir.tensorboard).as_posix(),
                objective=objective,
            ),
            StopOnRequest(),  # after the epoch is logged
        ]
        if self.settings.early_stopping:
            callbacks.append(
                keras.callbacks.EarlyStopping(
                    monitor=objective.name,
                    mode=objective.direction,
                    patience=self.settings.early_stopping,
                    restore_best_weights=True,
                )
            )
        return callbacks

    def _evaluate_on_test(self, model: keras.Model) -> dict[str, float]:
        x, y = self.test_data
        metrics = model.evaluate(
            x, y, batch_size=EVALUATION_BATCH_SIZE, verbose=0, return_dict=True
        )
        return {name: float(value) for name, value in metrics.items()}


class _TooManyFailures(Exception):
    """Ends a search whose trials keep failing."""


class WriteFailed(kt.errors.FatalError):
    """An `OSError` while a trial trained (a full disk, say): a fault of the
    machine, not of the trial's hyperparameters. Keras Tuner lets a
    `FatalError` end the search instead of recording the trial as failed,
    so the trial stays running and a resumed search trains it again.

    Args:
        error: the `OSError`.
    """

    def __init__(self, error: OSError):
        super().__init__(str(error))
        self.error = error


def _forget_ended_trials(oracle: kt.Oracle) -> None:
    """Keeps a reloaded oracle from training an ended trial again.

    Keras Tuner's `end_trial` saves the oracle before it takes the trial off
    its running ones, and `reload` queues every running trial again; an
    oracle saved in between (a chief killed there, or one that saved
    nothing after) would train that trial a second time. A worker's oracle
    is the chief's, which did this when it loaded.
    """
    if not isinstance(oracle, kt.Oracle):
        return
    ended = set(oracle.end_order)
    oracle._retry_queue = [t for t in oracle._retry_queue if t not in ended]


def _continue_from(model: keras.Model, checkpoint: str) -> None:
    """Loads a checkpoint's weights and optimizer state into a new model.

    The optimizer's variables are created first: a `load_weights` into an
    unbuilt optimizer (Keras Tuner's way) skips its state.
    """
    model.optimizer.build(model.trainable_variables)
    model.load_weights(checkpoint)


def _fail_on_nan(history: keras.callbacks.History) -> None:
    """Raises `FailedTrialError` if training stopped on a NaN loss."""
    losses = history.history.get("loss", [])
    for epoch, loss in zip(history.epoch, losses, strict=True):
        if not math.isfinite(loss):
            raise kt.errors.FailedTrialError(
                f"Loss became {loss} in epoch {epoch + 1}; the trial is recorded "
                "as failed and the search goes on."
            )
