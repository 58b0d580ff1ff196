"""Why the TensorFlow backend trains the Baseline differently from JAX.

Two checks, run by hand (about 5 minutes on 2 cores):

1. Baseline on the full data, 4 epochs from seeds 1 and 2, trained three
   ways in fresh processes: the tool's whole-epoch JAX trainer
   (`tuning.grouped.RunGroup`, one run), Keras' own loop on JAX, Keras'
   own loop on TensorFlow. The first two print the same curves; TensorFlow's differ.
2. The cause, in one Adam step on TensorFlow: an `Embedding` whose input
   repeats a token gets its gradient as `tf.IndexedSlices` with the index
   repeated, and Keras 3 squares those slices before they are summed, so
   Adam's second moment for that row is the sum of squares instead of the
   square of the sum. JAX's dense gradient gives the textbook value.

    python benchmarks/bench_backends.py [--skip-training]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DATA = os.environ.get("IMDB_DATA", str(REPO.parent / "shared" / "data" / "imdb.npz"))
EPOCHS = 4

TRAIN = """
import keras, keras_tuner as kt
from hypermodels import SentimentHyperModel
from tuning.data import load_imdb
data = load_imdb({data!r}, 10000, 256)
validation = (data.x_test, data.y_test)
for seed in (1, 2):
    keras.utils.set_random_seed(seed)
    model = SentimentHyperModel(vocab_size=10000).build(kt.HyperParameters())
    if {tools}:
        from tuning.grouped import RunGroup
        group = RunGroup(data.x_train, data.y_train, validation, 32, 32)
        group.add(model)
        (history,) = group.fit({epochs}, [[]], verbose=0)
    else:
        history = model.fit(data.x_train, data.y_train, batch_size=32,
                            epochs={epochs}, validation_data=validation, verbose=0)
    print(seed, "accuracy", [round(a, 3) for a in history.history["accuracy"]],
          "val_accuracy", [round(a, 3) for a in history.history["val_accuracy"]])
"""

ADAM_STEP = """
import keras, tensorflow as tf
embedding = keras.layers.Embedding(5, 1, embeddings_initializer="ones")
optimizer = keras.optimizers.Adam(0.1)
with tf.GradientTape() as tape:
    loss = tf.reduce_sum(embedding(tf.constant([[1, 1, 1, 2]])))  # token 1 thrice
(gradient,) = tape.gradient(loss, embedding.trainable_variables)
optimizer.apply([gradient], embedding.trainable_variables)
dense = tf.convert_to_tensor(gradient).numpy().ravel()
print("gradient:", type(gradient).__name__, "indices", gradient.indices.numpy())
print("Adam's second moment, Keras on TensorFlow:",
      optimizer._velocities[0].numpy().ravel())
print("Adam's second moment, (1 - beta_2) g^2:   ", (1 - 0.999) * dense**2)
"""


def run(code: str, backend: str) -> str:
    env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "3"}
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True,
        text=True, check=True,
    )  # fmt: skip
    return result.stdout.strip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skip-training", action="store_true")
    args = parser.parse_args()
    if not args.skip_training:
        for label, backend, tools in (
            ("the tool's trainer on JAX", "jax", True),
            ("Keras' own loop on JAX", "jax", False),
            ("Keras' own loop on TensorFlow", "tensorflow", False),
        ):
            code = TRAIN.format(tools=tools, data=DATA, epochs=EPOCHS)
            print(f"Baseline, {EPOCHS} epochs, {label}:")
            print("   " + run(code, backend).replace("\n", "\n   "))
    print(run(ADAM_STEP, "tensorflow"))


if __name__ == "__main__":
    main()
