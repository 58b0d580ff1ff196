"""A `keras.Sequential` whose `steps_per_execution` runs on device on JAX.

A trainer patch, not a model: the layers, the math and the saved model are
Keras' own; only how many steps one compiled call runs changes.
"""

from __future__ import annotations

import functools
import itertools
import math

import keras
import numpy as np
from keras.src.trainers.data_adapters import data_adapter_utils

# On the JAX backend, training steps run this many at a time inside one
# compiled call: 1024 holds a whole epoch (782 batches of 32), which
# dispatches once per epoch and compiles the fewest functions (an epoch
# 2.8 s at 1, 1.1 s at 1024; benchmarks/README.md).
STEPS_PER_EXECUTION = 1024

# XLA's CPU backend has LLVM optimize at -O3; at -O2 the scan's epochs ran
# faster and compiled sooner here (13-18%, benchmarks/README.md). The
# arithmetic is XLA's either way: the weights come out the same, or within
# float rounding.
CPU_COMPILER_OPTIONS = {"xla_backend_optimization_level": 2}

# keras-team/keras#23527 (after Keras 3.15.1) runs `steps_per_execution` under
# `jax.lax.scan` itself; its data adapters gained `super_batch_iterator`. Where
# Keras has it, its own loop is used.
KERAS_SCANS_STEPS = hasattr(data_adapter_utils, "super_batch_iterator")


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
    (the ragged last one) takes Keras' single step.

    Callbacks see one batch per execution, as with Keras' own
    `steps_per_execution`. Other backends, eager runs, distributed training
    and Keras versions that scan by themselves use Keras' own loop.
    """

    def fit(self, x=None, y=None, batch_size=None, **kwargs):
        """Keras' `fit`, with no more steps per execution than an epoch has.

        Keras numbers an execution's last batch `first + steps_per_execution
        - 1` even when the epoch ends sooner, so callbacks saw batch 1023 of
        a 782-batch epoch and `-v`'s progress bar `1024/4`, with a negative
        ETA. The math does not change.
        """
        configured = self.steps_per_execution
        if hasattr(x, "__len__") and batch_size:
            batches = math.ceil(len(x) / batch_size)
            self.steps_per_execution = max(1, min(configured, batches))
        try:
            return super().fit(x, y, batch_size=batch_size, **kwargs)
        finally:
            self.steps_per_execution = configured

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
            and not KERAS_SCANS_STEPS
            and self.steps_per_execution > 1
            and self.jit_compile
            and not self.run_eagerly
            and keras.distribution.distribution() is None
        )


def _scanned(step, steps_per_execution: int):
    """Wraps a Keras JAX `(state, batch) -> (logs, state)` step to run up to
    `steps_per_execution` batches from an iterator per call."""
    import jax

    options = CPU_COMPILER_OPTIONS if jax.default_backend() == "cpu" else None
    single = jax.jit(step, donate_argnums=0, compiler_options=options)

    @functools.partial(jax.jit, donate_argnums=0, compiler_options=options)
    def scan(state, stacked_batches):
        def body(state, batch):
            logs, state = step(state, batch)
            return state, logs

        state, logs = jax.lax.scan(body, state, stacked_batches)
        return keras.tree.map_structure(lambda log: log[-1], logs), state

    def run(state, iterator):
        logs = None
        batches = itertools.islice(iterator, steps_per_execution)
        for count, first, stacked in _same_shape_runs(batches, steps_per_execution):
            if count == 1:
                logs, state = single(state, first)
            else:
                logs, state = scan(state, stacked)
        if logs is None:
            raise StopIteration  # Keras' epoch iterator ends the epoch on it.
        return logs, state

    return run


def _same_shape_runs(batches, capacity: int):
    """Groups consecutive batches of one shape.

    Yields `(count, first batch, batches stacked along a new first axis)`.
    Host (numpy) batches are copied into one buffer as they arrive, so an
    execution is held in memory once; device arrays (on a GPU) are stacked
    where they are, with `jax.numpy`, never copied back to the host.
    """
    run: _StackedRun | None = None
    for batch in batches:
        if run is not None and not run.fits(batch):
            yield run.result()
            run = None
        if run is None:
            run = _StackedRun(batch, capacity)
        run.append(batch)
    if run is not None:
        yield run.result()


class _StackedRun:
    """Batches of one shape, stacked as they arrive (see `_same_shape_runs`)."""

    def __init__(self, first, capacity: int):
        self.first = first
        self.shapes = _shapes(first)
        self.count = 0
        leaves = keras.tree.flatten(first)
        self.on_host = all(isinstance(leaf, np.ndarray) for leaf in leaves)
        self.slots = [
            np.empty((capacity, *leaf.shape), leaf.dtype) if self.on_host else []
            for leaf in leaves
        ]

    def fits(self, batch) -> bool:
        return _shapes(batch) == self.shapes

    def append(self, batch) -> None:
        for slot, leaf in zip(self.slots, keras.tree.flatten(batch), strict=True):
            if self.on_host:
                slot[self.count] = leaf
            else:
                slot.append(leaf)
        self.count += 1

    def result(self):
        if self.on_host:
            leaves = [slot[: self.count] for slot in self.slots]
        else:
            import jax.numpy as jnp

            leaves = [jnp.stack(slot) for slot in self.slots]
        stacked = keras.tree.pack_sequence_as(self.first, leaves)
        return self.count, self.first, stacked


def _shapes(batch) -> tuple:
    return tuple(np.shape(array) for array in keras.tree.flatten(batch))
