"""Keras callbacks that record trials for TensorBoard on every backend."""

from __future__ import annotations

import math

import keras


class HParamsLogger(keras.callbacks.Callback):
    """Writes a trial's hyperparameters and best metrics for TensorBoard's HParams.

    Keras Tuner writes HParams only on the TensorFlow backend; this callback
    writes them whatever backend trains the model (TensorFlow is installed
    either way). It records the hyperparameters when training begins, under
    `session_name`, and at its end the scalars `best_val_accuracy` and
    `best_epoch` (1-based), which the HParams table shows beside the last
    train and validation loss and accuracy that `EpochScalarLogger` writes
    into the same directory.

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
        import tensorflow as tf
        from tensorboard.plugins.hparams import api as hparams_api

        self.best_value = -self.sign * math.inf
        self.best_epoch = 0
        self.writer = tf.summary.create_file_writer(self.log_dir)
        with self.writer.as_default():
            hparams_api.hparams(self.hparams, trial_id=self.session_name)
        self.writer.flush()

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        value = logs.get(self.monitor)
        if value is not None and self.sign * value > self.sign * self.best_value:
            self.best_value, self.best_epoch = float(value), epoch + 1

    def on_train_end(self, logs=None):
        import tensorflow as tf

        if self.best_epoch:
            with self.writer.as_default():
                tf.summary.scalar(f"best_{self.monitor}", self.best_value, step=0)
                tf.summary.scalar("best_epoch", self.best_epoch, step=0)
        self.writer.close()


class EpochScalarLogger(keras.callbacks.Callback):
    """Writes each epoch's metrics for TensorBoard, as `keras.callbacks.TensorBoard`
    names them (`epoch_loss`, ... in `train/` and `validation/`).

    Keras' own `TensorBoard` callback has batch hooks, which stop Keras from
    dispatching training steps asynchronously; that cost 1-2 s per epoch of
    this small model on 2 cores. Writing only at epoch ends keeps dispatch
    asynchronous.

    Args:
        log_dir: the trial's TensorBoard directory.
    """

    def __init__(self, log_dir: str):
        super().__init__()
        self.log_dir = log_dir

    def on_train_begin(self, logs=None):
        import tensorflow as tf

        self.writers = {
            split: tf.summary.create_file_writer(f"{self.log_dir}/{split}")
            for split in ("train", "validation")
        }

    def on_epoch_end(self, epoch, logs=None):
        import tensorflow as tf

        for name, value in (logs or {}).items():
            split = "validation" if name.startswith("val_") else "train"
            with self.writers[split].as_default():
                tf.summary.scalar(
                    f"epoch_{name.removeprefix('val_')}", value, step=epoch
                )

    def on_train_end(self, logs=None):
        for writer in self.writers.values():
            writer.close()


class StopOnNaN(keras.callbacks.Callback):
    """Stops training at the end of an epoch whose loss is NaN or infinite.

    Unlike `keras.callbacks.TerminateOnNaN` it has no batch hook, so Keras
    keeps dispatching training steps asynchronously.
    """

    def on_epoch_end(self, epoch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(loss):
            self.model.stop_training = True
