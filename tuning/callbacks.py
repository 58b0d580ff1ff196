"""Keras callbacks for what Keras' own do not record, at epoch ends only."""

from __future__ import annotations

import math
import time

import keras


class HParamsLogger(keras.callbacks.Callback):
    """Writes a trial's hyperparameters and best metrics for TensorBoard's HParams.

    Keras Tuner writes HParams only on the TensorFlow backend; this callback
    writes them whatever backend trains the model. It records the
    hyperparameters when training begins, under `session_name`, and at its
    end the scalars `best_val_accuracy` and `best_epoch` (1-based), which
    the HParams table shows beside the last train and validation loss and
    accuracy that Keras' `TensorBoard` callback writes into the same
    directory.

    Args:
        log_dir: the trial's TensorBoard directory (its HParams session).
        hparams: hyperparameter name -> value (bool, int, float or str).
        session_name: the name the HParams table shows for the trial.
        monitor: the metric whose best value is recorded. Defaults to
            `val_accuracy`.
        mode: `max` if higher `monitor` values are better, else `min`.
            Defaults to `max`.
    """

    def __init__(
        self,
        log_dir: str,
        hparams: dict,
        session_name: str,
        monitor: str = "val_accuracy",
        mode: str = "max",
    ):
        super().__init__()
        self.log_dir = log_dir
        self.hparams = dict(hparams)
        self.session_name = session_name
        self.monitor = monitor
        self.sign = 1.0 if mode == "max" else -1.0

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


class StopOnNaN(keras.callbacks.Callback):
    """Stops training at the end of an epoch whose loss is NaN or infinite.

    Unlike `keras.callbacks.TerminateOnNaN` it has no batch hook; measured
    with the whole-epoch scan, that hook still cost time (README, Speed).
    """

    def on_epoch_end(self, epoch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(loss):
            self.model.stop_training = True
