"""The IMDB sentiment classifier as a Keras Tuner `HyperModel`."""

from __future__ import annotations

import keras
import keras_tuner as kt

from hypermodels.space import declare
from hypermodels.variants import grid_space


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
        vocab_size: input vocabulary size: the tokenizer's, which the study
            that feeds the model decides (`tuning.settings.NUM_WORDS`).
        steps_per_execution: batches trained (or evaluated) per compiled
            call; it changes speed, not the math. Defaults to 1.
    """

    def __init__(
        self,
        space: dict | None = None,
        *,
        vocab_size: int,
        steps_per_execution: int = 1,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.space = dict(space or grid_space())
        self.vocab_size = vocab_size
        self.steps_per_execution = steps_per_execution

    def declare_hyperparameters(self, hp: kt.HyperParameters) -> dict:
        """Declares the whole space, conditional rates included; returns the
        trial's values (an optional rate that is off as 0).

        Every conditional scope is entered whatever its condition (see
        `hypermodels.space.declare`), so one call declares what Keras Tuner
        otherwise discovers by building a model per conditional scope.
        """
        return declare(hp, self.space)

    def build(self, hp: kt.HyperParameters) -> keras.Model:
        value = self.declare_hyperparameters(hp)
        l2, dropout = value["l2"], value["dropout"]

        model = keras.Sequential(name="imdb_sentiment")
        model.add(keras.Input(shape=(None,), dtype="int32"))
        model.add(keras.layers.Embedding(self.vocab_size, value["embedding_dim"]))
        model.add(keras.layers.GlobalAveragePooling1D())
        for _ in range(value["hidden_layers"]):
            model.add(
                keras.layers.Dense(
                    value["units"],
                    activation=value["activation"],
                    kernel_regularizer=keras.regularizers.L2(l2) if l2 else None,
                )
            )
            if dropout:
                model.add(keras.layers.Dropout(dropout))
        model.add(keras.layers.Dense(1, activation="sigmoid"))
        model.compile(
            optimizer=keras.optimizers.Adam(value["learning_rate"]),
            loss=value["loss"],
            metrics=[keras.metrics.BinaryAccuracy(name="accuracy")],
            steps_per_execution=self.steps_per_execution,
        )
        return model
