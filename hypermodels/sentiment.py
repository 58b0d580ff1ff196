"""The IMDB sentiment classifier as a Keras Tuner `HyperModel`."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import keras
import keras_tuner as kt

from hypermodels.variants import grid_choices

VOCAB_SIZE = 10_000
EMBEDDING_DIM = 64


class SentimentHyperModel(kt.HyperModel):
    """Embedding -> average pooling -> N x Dense (+L2, +Dropout) -> sigmoid.

    Hyperparameters: `hidden_layers`, `units`, `activation`, `loss`, `dropout`
    (0 = no `Dropout` layer) and `l2` (0 = no regularizer). Each is a
    `Choice` over the values in `choices`.

    Args:
        choices: hyperparameter name -> the values it may take; the first is
            the default. Defaults to the values of the nine study variants.
        vocab_size: input vocabulary size. Defaults to 10,000.
        embedding_dim: embedding width. Defaults to 64.
    """

    def __init__(
        self,
        choices: Mapping[str, Sequence] | None = None,
        vocab_size: int = VOCAB_SIZE,
        embedding_dim: int = EMBEDDING_DIM,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.choices = dict(choices or grid_choices())
        self.vocab_size = vocab_size
        self.embedding_dim = embedding_dim

    def build(self, hp: kt.HyperParameters) -> keras.Model:
        def choose(name):
            return hp.Choice(name, self.choices[name])

        hidden_layers = choose("hidden_layers")
        units = choose("units")
        activation = choose("activation")
        loss = choose("loss")
        dropout = choose("dropout")
        l2 = choose("l2")

        model = keras.Sequential(name="imdb_sentiment")
        model.add(keras.Input(shape=(None,), dtype="int32"))
        model.add(keras.layers.Embedding(self.vocab_size, self.embedding_dim))
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
            optimizer=keras.optimizers.Adam(),
            loss=loss,
            metrics=[keras.metrics.BinaryAccuracy(name="accuracy")],
        )
        return model
