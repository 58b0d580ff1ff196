"""A Keras Tuner `Tuner` that keeps every epoch of every trial on disk."""

from __future__ import annotations

import gc
import json
import math

import keras
import keras_tuner as kt

from tuning.callbacks import EpochScalarLogger, HParamsLogger, StopOnNaN
from tuning.run_dir import RunDir
from tuning.trials import trial_label

# Evaluation batches (validation every epoch, the test reviews once) change
# neither what is learned nor what is measured: the metrics are means over
# every review. On 2 CPU cores, evaluating the 25,000 test reviews took a
# median 0.56 s in batches of 32, 0.74 s in 512 and 0.40-0.47 s in 100-250;
# 250 divides 25,000 (and a 0.2 hold-out's 5,000), so no ragged last batch
# needs a step compiled for it.
EVALUATION_BATCH_SIZE = 250


class StudyTuner(kt.Tuner):
    """Trains each trial and records its per-epoch history and TensorBoard logs.

    Keras Tuner's oracle keeps only each trial's best metrics. This tuner
    also writes, for every execution of a trial, the full Keras history to
    `trial_<id>/history_<execution>.csv` (one row per epoch, flushed as it
    goes, so a crash keeps the finished epochs) and TensorBoard scalars and
    HParams to `tensorboard/<trial label>/`. When `test_data` is given (the held-out
    validation protocol), each trained model is evaluated on it once, at the
    end, into `trial_<id>/test_metrics_<execution>.json`.

    The weights of each trial's best epoch go to Keras Tuner's checkpoint
    file, so `get_best_models` works as for Keras Tuner's own tuners. A
    trial whose loss turns NaN stops and is recorded as failed, with the
    reason, and the search goes on. Hyperband's epoch budget
    (`tuner/epochs`) is honoured by training from scratch for that many
    epochs.

    Args:
        oracle: the `keras_tuner.Oracle` that proposes trials.
        hypermodel: builds and compiles the models.
        run_dir: the run directory; it is Keras Tuner's project directory.
        test_data: `(x, y)` evaluated once per trained model, or `None`.
        early_stopping: patience in epochs of `keras.callbacks.EarlyStopping`
            on the objective (restoring the best weights), or `None`.
        **kwargs: passed to `keras_tuner.Tuner`.
    """

    def __init__(
        self,
        oracle: kt.Oracle,
        hypermodel: kt.HyperModel,
        run_dir: RunDir,
        test_data: tuple | None = None,
        early_stopping: int | None = None,
        **kwargs,
    ):
        super().__init__(
            oracle,
            hypermodel,
            directory=str(run_dir.root.parent),
            project_name=run_dir.root.name,
            **kwargs,
        )
        self.run_dir = run_dir
        self.test_data = test_data
        self.early_stopping = early_stopping

    def search(self, *fit_args, **fit_kwargs) -> None:
        """Runs the search with the objects that outlive it frozen for the collector.

        Keras Tuner runs a full garbage collection before every trial, and
        Keras' `clear_session` another; with TensorFlow, JAX and the data
        loaded, each took 0.4 s. Frozen objects (`gc.freeze`) are not
        scanned, so the collections only walk what the trials create.
        TensorFlow, which the callbacks use to write TensorBoard logs, is
        imported first so that its objects are frozen too.
        """
        import tensorflow  # noqa: F401

        gc.collect()
        gc.freeze()
        try:
            super().search(*fit_args, **fit_kwargs)
        finally:
            gc.unfreeze()

    def run_trial(self, trial, *fit_args, **fit_kwargs) -> list:
        hp = trial.hyperparameters
        if "tuner/epochs" in hp.values:  # Hyperband's budget for this trial
            fit_kwargs = {**fit_kwargs, "epochs": hp.values["tuner/epochs"]}
        histories = []
        for execution in range(self.executions_per_trial):
            model = self._try_build(hp)
            callbacks = self._callbacks(trial, execution)
            history = self.hypermodel.fit(
                hp, model, *fit_args, callbacks=callbacks, **fit_kwargs
            )
            _fail_on_nan(history)
            if self.test_data is not None:
                self._evaluate_on_test(model, trial.trial_id, execution)
            histories.append(history)
        return histories

    def _callbacks(self, trial, execution: int) -> list[keras.callbacks.Callback]:
        objective = self.oracle.objective
        label = trial_label(trial.trial_id, trial.hyperparameters.values)
        board_dir = self.run_dir.tensorboard / label
        if self.executions_per_trial > 1:
            board_dir = board_dir / f"execution_{execution}"
        checkpoint = keras.callbacks.ModelCheckpoint(
            self._get_checkpoint_fname(trial.trial_id),
            monitor=objective.name,
            mode=objective.direction,
            save_best_only=True,
            save_weights_only=True,
        )
        # It saves at epoch ends only, so its batch hook does nothing; saying
        # so keeps Keras' asynchronous dispatch of training steps.
        checkpoint.async_safe = True
        # Only epoch-level callbacks: any batch hook makes Keras wait for every
        # step (measured: 1-2 s more per epoch).
        callbacks = [
            StopOnNaN(),
            keras.callbacks.CSVLogger(
                str(self.run_dir.history_csv(trial.trial_id, execution))
            ),
            EpochScalarLogger(str(board_dir)),
            checkpoint,
            HParamsLogger(
                str(board_dir),
                trial.hyperparameters.values,
                session_name=label,
                monitor=objective.name,
                mode=objective.direction,
            ),
        ]
        if self.early_stopping:
            callbacks.append(
                keras.callbacks.EarlyStopping(
                    monitor=objective.name,
                    mode=objective.direction,
                    patience=self.early_stopping,
                    restore_best_weights=True,
                )
            )
        return callbacks

    def _evaluate_on_test(self, model: keras.Model, trial_id: str, execution: int):
        x, y = self.test_data
        metrics = model.evaluate(
            x, y, batch_size=EVALUATION_BATCH_SIZE, verbose=0, return_dict=True
        )
        self.run_dir.test_metrics(trial_id, execution).write_text(
            json.dumps({f"test_{k}": float(v) for k, v in metrics.items()}) + "\n"
        )


def _fail_on_nan(history: keras.callbacks.History) -> None:
    """Raises `FailedTrialError` if training stopped on a NaN loss."""
    losses = history.history.get("loss", [])
    for epoch, loss in enumerate(losses, start=1):
        if not math.isfinite(loss):
            raise kt.errors.FailedTrialError(
                f"Loss became {loss} in epoch {epoch}; the trial is recorded as "
                "failed and the search goes on."
            )
