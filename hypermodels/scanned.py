"""A `keras.Sequential` whose `steps_per_execution` runs on device on JAX."""

from __future__ import annotations

import functools
import itertools

import keras
import numpy as np


class ScannedSequential(keras.Sequential):
    """`keras.Sequential` that runs `steps_per_execution` steps in one XLA call.

    Keras 3.15's JAX trainer runs `steps_per_execution` steps as a Python
    loop of single-step calls, so every batch still pays the host's
    dispatch. For this model on 2 CPU cores that dispatch (~1.6 ms) costs
    more than the step itself (~0.9 ms). Here, on the JAX backend, runs of
    consecutive batches of one shape are stacked and trained (or evaluated)
    by one jitted `jax.lax.scan` of Keras' own `train_step` (`test_step`):
    the same steps on the same batches, in the same order, threading the
    same state, so what is learned does not change. A batch of another shape
    (the ragged last one) takes Keras' single step. Keras' pull request
    keras-team/keras#23527 does this upstream, after 3.15.1.

    Callbacks see one batch per execution, as with Keras' own
    `steps_per_execution`. Other backends, eager runs and distributed
    training fall back to Keras' own loop (TensorFlow's is already on device).
    """

    def make_train_function(self, force: bool = False) -> None:
        if not self._scans():
            return super().make_train_function(force)
        if self.train_function is None or force:
            self.train_function = _scanned(self.train_step, self.steps_per_execution)

    def make_test_function(self, force: bool = False) -> None:
        if not self._scans():
            return super().make_test_function(force)
        if self.test_function is None or force:
            self.test_function = _scanned(self.test_step, self.steps_per_execution)

    def _scans(self) -> bool:
        return (
            keras.backend.backend() == "jax"
            and self.steps_per_execution > 1
            and self.jit_compile
            and not self.run_eagerly
            and keras.distribution.distribution() is None
        )


def _scanned(step, steps_per_execution: int):
    """Wraps a Keras JAX `(state, batch) -> (logs, state)` step to run up to
    `steps_per_execution` batches from an iterator per call."""
    import jax

    single = jax.jit(step, donate_argnums=0)

    @functools.partial(jax.jit, donate_argnums=0)
    def scan(state, stacked_batches):
        def body(state, batch):
            logs, state = step(state, batch)
            return state, logs

        state, logs = jax.lax.scan(body, state, stacked_batches)
        return keras.tree.map_structure(lambda log: log[-1], logs), state

    def run(state, iterator):
        batches = list(itertools.islice(iterator, steps_per_execution))
        if not batches:
            raise StopIteration  # Keras' epoch iterator ends the epoch on it.
        for _, same_shape in itertools.groupby(batches, key=_shapes):
            same_shape = list(same_shape)
            if len(same_shape) == 1:
                logs, state = single(state, same_shape[0])
            else:
                stacked = keras.tree.map_structure(
                    lambda *arrays: np.stack(arrays), *same_shape
                )
                logs, state = scan(state, stacked)
        return logs, state

    return run


def _shapes(batch) -> tuple:
    return tuple(np.shape(array) for array in keras.tree.flatten(batch))
