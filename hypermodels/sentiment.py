"""The IMDB sentiment classifier as a Keras Tuner `HyperModel`."""

from __future__ import annotations

import keras
import keras_tuner as kt

from hypermodels.scanned import ScannedSequential
from hypermodels.space import INTEGER, grid_space

VOCAB_SIZE = 10_000

# On the JAX backend, training steps run this many at a time inside one
# compiled call (`ScannedSequential`). Measured on 2 CPU cores, full data,
# per epoch with validation (median of 2): 1: 2.8 s, 64: 1.2 s, 256: 1.0 s,
# 1024: 1.1 s; 1024 holds a whole epoch (782 batches of 32), which compiles
# the fewest functions (first epoch 3.9 s vs 5.3 s at 256).
STEPS_PER_EXECUTION = 1024


class SentimentHyperModel(kt.HyperModel):
    """Embedding -> average pooling -> N x Dense (+L2, +Dropout) -> sigmoid.

    Hyperparameters: `hidden_layers`, `units` (every hidden layer's width),
    `activation`, `loss`, `dropout_on` and `dropout`, `l2_on` and `l2`,
    `learning_rate` (Adam) and `embedding_dim`. The rates of dropout and L2
    exist only in trials that have them (`hp.conditional_scope`), so they are
    never recorded for a trial without them.

    Args:
        space: hyperparameter name -> its values, in the format of
            `hypermodels.space`. Defaults to the nine grid variants' values.
        vocab_size: input vocabulary size. Defaults to 10,000.
        steps_per_execution: batches trained (or evaluated) per compiled
            call; it changes speed, not the math, and callbacks see one batch
            per call. Defaults to 1024 (a whole epoch of the study).
    """

    def __init__(
        self,
        space: dict | None = None,
        vocab_size: int = VOCAB_SIZE,
        steps_per_execution: int = STEPS_PER_EXECUTION,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.space = dict(space or grid_space())
        self.vocab_size = vocab_size
        self.steps_per_execution = steps_per_execution

    def build(self, hp: kt.HyperParameters) -> keras.Model:
        hidden_layers = self._declare(hp, "hidden_layers")
        units = self._declare(hp, "units")
        activation = self._declare(hp, "activation")
        dropout = self._declare_optional(hp, "dropout")
        l2 = self._declare_optional(hp, "l2")

        model = ScannedSequential(name="imdb_sentiment")
        model.add(keras.Input(shape=(None,), dtype="int32"))
        model.add(
            keras.layers.Embedding(self.vocab_size, self._declare(hp, "embedding_dim"))
        )
        model.add(keras.layers.GlobalAveragePooling1D())
        for _ in range(hidden_layers):
            model.add(
                keras.layers.Dense(
                    units,
                    activation=activation,
                    kernel_regularizer=keras.regularizers.L2(l2) if l2 else None,
                )
            )
            if dropout:
                model.add(keras.layers.Dropout(dropout))
        model.add(keras.layers.Dense(1, activation="sigmoid"))
        model.compile(
            optimizer=keras.optimizers.Adam(self._declare(hp, "learning_rate")),
            loss=self._declare(hp, "loss"),
            metrics=[keras.metrics.BinaryAccuracy(name="accuracy")],
            steps_per_execution=self.steps_per_execution,
        )
        return model

    def _declare(self, hp: kt.HyperParameters, name: str):
        """Declares `name` as its space entry says and returns its value."""
        spec = self.space[name]
        if isinstance(spec, list):
            return hp.Choice(name, spec)
        if "values" in spec:
            return hp.Choice(name, spec["values"])
        sampling = spec.get("sampling", "linear")
        if name in INTEGER:
            return hp.Int(name, spec["min"], spec["max"], sampling=sampling)
        return hp.Float(name, spec["min"], spec["max"], sampling=sampling)

    def _declare_optional(self, hp: kt.HyperParameters, name: str) -> float:
        """Declares a rate that may be off; returns 0 when off."""
        spec = self.space[name]
        can_be_on = isinstance(spec, list) or "values" in spec or "min" in spec
        if not can_be_on:
            return 0.0
        if isinstance(spec, dict) and spec.get("off"):
            on = hp.Boolean(f"{name}_on")
            # Entered even when off, so that Keras Tuner learns the condition.
            with hp.conditional_scope(f"{name}_on", [True]):
                rate = self._declare(hp, name)
            return rate if on else 0.0
        return self._declare(hp, name)
