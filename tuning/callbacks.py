"""Keras callbacks that record trials for TensorBoard on every backend.

They write with TensorBoard's own event-file writer and HParams protos, not
`tf.summary`, so they need no TensorFlow: where it is not installed (it is
an optional extra), TensorBoard writes through its own stub, and a JAX run
never loads TensorFlow, which takes seconds to import.
"""

from __future__ import annotations

import math
import time

import keras

from tuning import stopping
from tuning.objective import Objective


class HParamsLogger(keras.callbacks.Callback):
    """Writes a trial's hyperparameters and best metrics for TensorBoard's HParams.

    Keras Tuner writes HParams only on the TensorFlow backend; this callback
    writes them whatever backend trains the model. It records the
    hyperparameters when training begins, under `session_name`, and at its
    end the scalars `best_<objective>` and `best_epoch` (1-based), which
    the HParams table shows beside the last train and validation loss and
    accuracy that `EpochScalarLogger` writes into the same directory.

    Args:
        log_dir: the trial's TensorBoard directory (its HParams session).
        hparams: hyperparameter name -> value (bool, int, float or str).
        session_name: the name the HParams table shows for the trial.
        objective: the study's objective, whose best value and epoch are
            recorded.
    """

    def __init__(
        self,
        log_dir: str,
        hparams: dict,
        session_name: str,
        objective: Objective,
    ):
        super().__init__()
        self.log_dir = log_dir
        self.hparams = dict(hparams)
        self.session_name = session_name
        self.monitor = objective.name
        self.sign = 1.0 if objective.higher_is_better else -1.0

    def on_train_begin(self, logs=None):
        from tensorboard.compat.proto import event_pb2
        from tensorboard.plugins.hparams import summary_v2
        from tensorboard.summary.writer.event_file_writer import EventFileWriter

        self.best_value = -self.sign * math.inf
        self.best_epoch = 0
        session = summary_v2.hparams_pb(self.hparams, trial_id=self.session_name)
        writer = EventFileWriter(self.log_dir)
        writer.add_event(event_pb2.Event(wall_time=time.time(), summary=session))
        writer.close()

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        value = logs.get(self.monitor)
        if value is not None and self.sign * value > self.sign * self.best_value:
            self.best_value, self.best_epoch = float(value), epoch + 1

    def on_train_end(self, logs=None):
        from tensorboard.summary import Writer

        if self.best_epoch:
            writer = Writer(self.log_dir)
            writer.add_scalar(f"best_{self.monitor}", self.best_value, step=0)
            writer.add_scalar("best_epoch", self.best_epoch, step=0)
            writer.close()


class EpochScalarLogger(keras.callbacks.Callback):
    """Writes each epoch's metrics for TensorBoard, as `keras.callbacks.TensorBoard`
    names them (`epoch_loss`, ... in `train/` and `validation/`).

    Keras' own `TensorBoard` callback imports `tensorflow.summary`, so it
    fails where TensorFlow is not installed.

    Args:
        log_dir: the trial's TensorBoard directory.
    """

    SPLITS = ("train", "validation")

    def __init__(self, log_dir: str):
        super().__init__()
        self.log_dir = log_dir

    def on_train_begin(self, logs=None):
        from tensorboard.summary import Writer

        self.writers = {
            split: Writer(f"{self.log_dir}/{split}") for split in self.SPLITS
        }

    def on_epoch_end(self, epoch, logs=None):
        for name, value in (logs or {}).items():
            split = "validation" if name.startswith("val_") else "train"
            self.writers[split].add_scalar(
                f"epoch_{name.removeprefix('val_')}", value, step=epoch
            )
        for writer in self.writers.values():
            writer.flush()  # so that a live TensorBoard shows the epoch

    def on_train_end(self, logs=None):
        for writer in self.writers.values():
            writer.close()


class StopOnRequest(keras.callbacks.Callback):
    """Stops training at the end of the epoch in which a SIGINT or SIGTERM
    arrived, even where a library swallowed its `KeyboardInterrupt`
    (`tuning.stopping`): the epoch's history row is written, and the trial,
    unfinished, trains again when the study resumes."""

    def on_epoch_end(self, epoch, logs=None):
        stop = stopping.requested()
        if stop is not None:
            raise stop


class StopOnNaN(keras.callbacks.Callback):
    """Stops training at the end of an epoch whose loss is NaN or infinite.

    Unlike `keras.callbacks.TerminateOnNaN` it has no batch hook, which
    costs time even when a compiled call runs a whole epoch.
    """

    def on_epoch_end(self, epoch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(loss):
            self.model.stop_training = True
