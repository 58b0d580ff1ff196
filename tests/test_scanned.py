import keras
import numpy as np
import pytest

from tuning.data import load_imdb
from tuning.scanned import ScannedSequential

# 300 reviews in batches of 32: nine full batches and a ragged one of 12.
REVIEWS = 300


@pytest.fixture(scope="module")
def reviews(imdb_path):
    data = load_imdb(imdb_path).head(REVIEWS)
    return data.x_train, data.y_train, data.x_test, data.y_test


@pytest.fixture(scope="module")
def keras_run(reviews):
    """The same training with Keras' own loop, one step per call."""
    return train(keras.Sequential, 1, reviews)


def train(model_class, steps_per_execution, reviews):
    """Trains the study's model with dropout for 2 epochs; returns (model,
    history, training calls per epoch)."""
    x, y, x_val, y_val = reviews
    keras.utils.set_random_seed(7)
    model = model_class(
        [
            keras.Input((None,), dtype="int32"),
            keras.layers.Embedding(10_000, 16),
            keras.layers.GlobalAveragePooling1D(),
            keras.layers.Dense(8, "relu"),
            keras.layers.Dropout(0.5),
            keras.layers.Dense(1, "sigmoid"),
        ]
    )
    model.compile(
        "adam",
        "binary_crossentropy",
        metrics=["accuracy"],
        steps_per_execution=steps_per_execution,
    )
    calls = []
    count_calls = keras.callbacks.LambdaCallback(
        on_train_batch_end=lambda batch, logs: calls.append(batch)
    )
    history = model.fit(
        x,
        y,
        batch_size=32,
        epochs=2,
        validation_data=(x_val, y_val),
        validation_batch_size=50,
        callbacks=[count_calls],
        verbose=0,
    )
    return model, history.history, len(calls) / 2


@pytest.mark.parametrize("steps_per_execution", [4, 1024])
@pytest.mark.slow
def test_scanned_steps_learn_what_keras_steps_learn(
    reviews, keras_run, steps_per_execution
):
    reference, expected, reference_calls = keras_run
    model, history, calls = train(ScannedSequential, steps_per_execution, reviews)

    assert reference_calls == 10  # one call per batch
    assert calls == (3 if steps_per_execution == 4 else 1)  # 4 + 4 + (1 + ragged)
    assert history.keys() == expected.keys()
    for name in expected:  # dropout included: the same random draws
        np.testing.assert_allclose(history[name], expected[name], rtol=1e-5)
    for weights, expected_weights in zip(
        model.get_weights(), reference.get_weights(), strict=True
    ):
        np.testing.assert_allclose(weights, expected_weights, rtol=1e-5, atol=1e-7)
    x_val, y_val = reviews[2:]
    np.testing.assert_allclose(
        model.evaluate(x_val, y_val, batch_size=64, verbose=0),
        reference.evaluate(x_val, y_val, batch_size=64, verbose=0),
        rtol=1e-5,
    )


@pytest.mark.slow
def test_one_step_per_execution_is_keras_own_loop(reviews):
    model, _, calls = train(ScannedSequential, 1, reviews)
    assert calls == 10
    assert not model._scans()


def test_callbacks_see_the_last_batch_of_a_short_epoch():
    model = ScannedSequential(
        [keras.Input((4,)), keras.layers.Dense(1, activation="sigmoid")]
    )
    model.compile("adam", "binary_crossentropy", steps_per_execution=1024)
    seen = []
    record = keras.callbacks.LambdaCallback(
        on_train_batch_end=lambda batch, logs: seen.append(batch)
    )
    x, y = np.ones((100, 4)), np.ones(100)
    model.fit(x, y, batch_size=32, epochs=2, verbose=0, callbacks=[record])
    assert seen == [3, 3]  # 4 batches of 32: the last is batch 3, not 1023
    assert model.steps_per_execution == 1024
