"""Several runs of one model trained together, as one compiled JAX program.

The runs of a trial differ only in their seeds: the same architecture, the
same data, the same number of steps. `RunGroup` stacks their states along a
leading run axis and trains them with `jax.vmap` of Keras' own stateless
`train_step` (and `test_step` to validate), a whole epoch per compiled call,
with the reviews on the device and each batch gathered there. On a GPU that
turns K tiny models, each leaving the device idle between kernels, into one
K times wider. On a CPU a group of several was slower per run than one at a
time (benchmarks/README.md), so there a group is one run by default: the
same whole-epoch program, a run axis of one.
"""

from __future__ import annotations

import functools
import itertools
import math
import os
from collections.abc import Sequence
from operator import itemgetter

import jax
import jax.numpy as jnp
import keras
import numpy as np
from keras.src.backend.jax.trainer import JAXEpochIterator

from tuning.settings import CPU_RUNS_AT_ONCE

# XLA's CPU backend has LLVM optimize at -O3; at -O2 a scanned epoch ran
# faster and compiled sooner here (13-18%, benchmarks/README.md). The
# arithmetic is XLA's either way.
CPU_COMPILER_OPTIONS = {"xla_backend_optimization_level": 2}


def runs_at_once(setting: int | None, backend: str) -> int | None:
    """The most runs of a trial that train together: `setting` if given,
    else all of them on a GPU (`None`) and `CPU_RUNS_AT_ONCE` on a CPU;
    one on a backend other than JAX, which trains one run at a time."""
    if backend != "jax":
        return 1
    if setting:
        return setting
    return CPU_RUNS_AT_ONCE if jax.default_backend() == "cpu" else None


def device_description() -> str:
    """The device JAX trains on, in words: `cpu (2 cores)`, `gpu (NVIDIA H200)`."""
    device = jax.devices()[0]
    if device.platform == "cpu":
        return f"cpu ({len(os.sched_getaffinity(0))} cores)"
    return f"{device.platform} ({device.device_kind})"


class DeviceArrays:
    """Host arrays put on the device once, however many groups train on them.

    The reviews are the same for every trial of a study; placing them once
    keeps a GPU from copying 50 MB a trial.
    """

    def __init__(self):
        self._placed: dict[int, tuple[np.ndarray, jax.Array]] = {}

    def __call__(self, array) -> jax.Array:
        key = id(array)
        if key not in self._placed:  # the host array is kept, so its id stays its
            self._placed[key] = (array, jnp.asarray(array))
        return self._placed[key][1]


class RunGroup:
    """Trains K compiled models of one architecture in lockstep.

    Each run keeps what it would have had alone, because everything random
    is drawn as Keras' own `fit` draws it: the caller builds each model
    right after seeding it (its initial weights and its dropout stream,
    which Keras keeps in the model's state), and `add` then takes the NumPy
    generator's state as `fit` would find it, from which each epoch's
    shuffle order is drawn as Keras' `ArrayDataAdapter` draws it. So a run
    in a group gives the curves it gives alone, up to float rounding (the
    test suite checks it on real data; docs/architecture.md states the
    tolerance).

    The models take part as they do in Keras' `fit`: each gets its own
    callbacks and `History`, its variables are synced at each epoch's end
    (so callbacks read its weights), and `stop_training` stops it. A
    stopped run's state is frozen, though its lane of the compiled program
    goes on computing until every run has stopped. An exception raised by
    a run's callbacks at an epoch's end (a stop request, a full disk) is
    raised once every run has ended that epoch.

    Args:
        x, y: the training reviews and labels (host arrays).
        validation_data: `(x, y)` evaluated at each epoch's end.
        batch_size: the training batch size.
        validation_batch_size: the evaluation batch size.
        device_arrays: where arrays are placed on the device; defaults to a
            new `DeviceArrays`.
    """

    def __init__(
        self,
        x: np.ndarray,
        y: np.ndarray,
        validation_data: tuple[np.ndarray, np.ndarray],
        batch_size: int,
        validation_batch_size: int,
        device_arrays: DeviceArrays | None = None,
    ):
        self.x, self.y = x, y
        self.validation_data = validation_data
        self.batch_size = batch_size
        self.validation_batch_size = validation_batch_size
        self.on_device = device_arrays or DeviceArrays()
        self.models: list[keras.Model] = []
        self._generators: list[dict] = []
        # Compiled on first use, for the models added by then.
        self._train_epoch = None
        self._split = None

    def add(self, model: keras.Model) -> None:
        """Adds a compiled model, right after it was built from its seed.

        Builds its metrics and optimizer as Keras 3's JAX `fit` does before
        the first epoch (drawing what `fit` draws: its iterator's first
        shuffle), then keeps the NumPy generator's state, from which this
        run's shuffle orders are drawn.
        """
        batches = JAXEpochIterator(
            x=self.x, y=self.y, batch_size=self.batch_size, shuffle=True
        )
        model._symbolic_build(iterator=batches)
        if model.optimizer is not None and not model.optimizer.built:
            model.optimizer.build(model.trainable_variables)
        self.models.append(model)
        self._generators.append(np.random.get_state())

    def fit(
        self,
        epochs: int,
        callbacks: Sequence[Sequence[keras.callbacks.Callback]],
        initial_epoch: int = 0,
        checkpoint: keras.callbacks.ModelCheckpoint | None = None,
        verbose: int = 2,
    ) -> list[keras.callbacks.History]:
        """Trains every run from `initial_epoch` to `epochs`.

        Args:
            epochs: the epoch to train up to, as in `fit`.
            callbacks: each run's callbacks, in the order of `add`.
            initial_epoch: the epoch to start from, as in `fit`.
            checkpoint: a best-only `ModelCheckpoint` (mode `max` or `min`)
                shared by the runs. It sees each run's best epoch once the
                group has trained, in the order of `add`: what it would have
                kept had the runs trained one after another with it among
                their callbacks.
            verbose: Keras' verbosity for each run's progress line.

        Returns:
            Each run's `History`.
        """
        lists = [
            keras.callbacks.CallbackList(
                run_callbacks,
                add_history=True,
                add_progbar=verbose != 0,
                verbose=verbose,
                epochs=epochs,
                steps=self._batches,
                model=model,
            )
            for model, run_callbacks in zip(self.models, callbacks, strict=True)
        ]
        best = [_Best(checkpoint) for _ in self.models]
        state = self._stacked_state()
        active = np.ones(len(self.models), bool)
        for model in self.models:
            model.stop_training = False
        for run in lists:
            run.on_train_begin()
        for epoch in range(initial_epoch, epochs):
            for run in itertools.compress(lists, active):
                run.on_epoch_begin(epoch)
                run.on_train_batch_begin(0)
            state, logs = self._epoch(state, active)
            runs = self._unstack(state)
            self._end_epoch(epoch, logs, runs, lists, best, active)
            active &= [not model.stop_training for model in self.models]
            if not active.any():
                break
        for model, run in zip(self.models, lists, strict=True):
            model.optimizer.finalize_variable_values(model.trainable_weights)
            run.on_train_end(logs=_last(model.history))
        if checkpoint is not None:
            self._save_best(checkpoint, best)
        return [model.history for model in self.models]

    def evaluate(self, x: np.ndarray, y: np.ndarray) -> list[dict[str, float]]:
        """Each run's metrics on `(x, y)`, from its models' current weights."""
        evaluation = self._compiled_evaluation()
        logs = evaluation(self._stacked_state(), self.on_device(x), self.on_device(y))
        return [
            {name: float(value[k]) for name, value in logs.items()}
            for k in range(len(self.models))
        ]

    @property
    def _batches(self) -> int:
        return math.ceil(len(self.x) / self.batch_size)

    def _stacked_state(self):
        return _stack([_state(model) for model in self.models])

    def _epoch(self, state, active: np.ndarray):
        orders = np.stack([self._shuffle_order(k) for k in range(len(self.models))])
        if self._train_epoch is None:
            self._train_epoch = self._compile_train_epoch()
        x_val, y_val = self.validation_data
        return self._train_epoch(
            state,
            jnp.asarray(orders, jnp.int32),
            jnp.asarray(active),
            self.on_device(self.x),
            self.on_device(self.y),
            self.on_device(x_val),
            self.on_device(y_val),
        )

    def _shuffle_order(self, run: int) -> np.ndarray:
        """This run's order for the next epoch: one permutation of the
        reviews from its own generator, as Keras' `ArrayDataAdapter` draws
        it from NumPy's global one."""
        np.random.set_state(self._generators[run])
        order = np.random.permutation(len(self.x))
        self._generators[run] = np.random.get_state()
        return order

    def _compile_train_epoch(self):
        model = self.models[0]
        train = _scanned_pass(model.train_step, self.batch_size)
        evaluate = _scanned_pass(model.test_step, self.validation_batch_size)

        def run_epoch(state, order, active, x, y, x_val, y_val):
            trainable, non_trainable, optimizer, metrics = state
            metrics = _reset(metrics)
            logs, trained = train(
                (trainable, non_trainable, optimizer, metrics), x, y, order
            )
            validation, _ = evaluate((*trained[:2], metrics), x_val, y_val)
            logs.update({f"val_{name}": value for name, value in validation.items()})
            kept = jax.tree.map(
                lambda new, old: jnp.where(active, new, old), trained, state
            )
            return kept, logs

        per_run = (0, 0, 0, None, None, None, None)  # state, order, active; data
        runs = _over_runs(run_epoch, len(self.models), per_run)
        return jax.jit(runs, donate_argnums=0, compiler_options=_options())

    def _compiled_evaluation(self):
        evaluate = _scanned_pass(self.models[0].test_step, self.validation_batch_size)

        def run_evaluation(state, x, y):
            trainable, non_trainable, _, metrics = state
            logs, _ = evaluate((trainable, non_trainable, _reset(metrics)), x, y)
            return logs

        runs = _over_runs(run_evaluation, len(self.models), (0, None, None))
        return jax.jit(runs, compiler_options=_options())

    def _unstack(self, state) -> list:
        if self._split is None:
            count = len(self.models)

            def split_runs(state):
                return [jax.tree.map(itemgetter(k), state) for k in range(count)]

            self._split = jax.jit(split_runs)
        return self._split(state)

    def _end_epoch(self, epoch, logs, runs, lists, best, active) -> None:
        logs = {name: np.asarray(value) for name, value in logs.items()}
        failure = None
        for k, (model, run) in enumerate(zip(self.models, lists, strict=True)):
            if not active[k]:
                continue
            _assign(model, runs[k])
            epoch_logs = {name: float(value[k]) for name, value in logs.items()}
            best[k].see(epoch, epoch_logs, runs[k])
            try:
                run.on_train_batch_end(self._batches - 1, epoch_logs)
                run.on_epoch_end(epoch, epoch_logs)
            except BaseException as e:  # noqa: B036 - re-raised below
                failure = failure or e
        if failure is not None:
            raise failure

    def _save_best(self, checkpoint, best) -> None:
        for model, run_best in zip(self.models, best, strict=True):
            if run_best.state is None:
                continue
            final = _state(model)
            _assign(model, run_best.state)
            checkpoint.set_model(model)
            checkpoint.on_epoch_end(run_best.epoch, run_best.logs)
            _assign(model, final)


class _Best:
    """A run's best epoch by a checkpoint's measure: the first of its best
    values, with the state it had then."""

    def __init__(self, checkpoint: keras.callbacks.ModelCheckpoint | None):
        self.checkpoint = checkpoint
        self.value = None
        self.epoch = None
        self.logs = None
        self.state = None

    def see(self, epoch: int, logs: dict, state) -> None:
        if self.checkpoint is None:
            return
        value = logs.get(self.checkpoint.monitor)
        if value is None or not math.isfinite(value):
            return
        better = np.greater if self.checkpoint.mode == "max" else np.less
        if self.value is None or better(value, self.value):
            self.value, self.epoch, self.logs, self.state = value, epoch, logs, state


def _over_runs(function, runs: int, in_axes: tuple):
    """`function` over a leading run axis of its arguments at `in_axes` 0 and
    of its results: `jax.vmap`, or for one run the function itself on that
    run (tracing Keras' steps under `vmap` added a quarter of a second to a
    quick check on a CPU, where a group is one run)."""
    if runs > 1:
        return jax.vmap(function, in_axes=in_axes)

    @functools.wraps(function)
    def one_run(*args):
        args = [
            arg if axis is None else jax.tree.map(itemgetter(0), arg)
            for arg, axis in zip(args, in_axes, strict=True)
        ]
        return jax.tree.map(lambda leaf: leaf[None], function(*args))

    return one_run


def _scanned_pass(step, batch_size: int):
    """One pass over `(x, y)` in batches of `batch_size`, all but a ragged
    last batch in one `jax.lax.scan` of Keras' `step`, gathering the
    batches on the device by `order` (the reviews' order, or none to go in
    order). Returns the last step's logs (the pass's metrics) and state."""

    def run(state, x, y, order=None):
        count = len(x)
        if order is None:
            order = jnp.arange(count)
        full = count // batch_size

        def body(state, indices):
            logs, state = step(state, (x[indices], y[indices]))
            return state, logs

        logs = None
        if full:
            batches = order[: full * batch_size].reshape(full, batch_size)
            state, logs = jax.lax.scan(body, state, batches)
            logs = jax.tree.map(lambda log: log[-1], logs)
        if count % batch_size:
            tail = order[full * batch_size :]
            logs, state = step(state, (x[tail], y[tail]))
        return logs, state

    return run


def _reset(metrics: list) -> list:
    """Metric variables as `reset_metrics` leaves them (Keras' metrics reset
    to zeros)."""
    return [jnp.zeros_like(value) for value in metrics]


def _options():
    return CPU_COMPILER_OPTIONS if jax.default_backend() == "cpu" else None


def _variables(model: keras.Model) -> tuple:
    """A compiled model's variables, grouped as Keras' JAX trainer threads
    its state: trainable, non-trainable, optimizer, metrics."""
    return (
        model.trainable_variables,
        model.non_trainable_variables,
        model.optimizer.variables,
        model.metrics_variables,
    )


def _state(model: keras.Model) -> tuple:
    """A compiled model's state, as Keras' JAX trainer threads it."""
    return tuple([v.value for v in group] for group in _variables(model))


def _assign(model: keras.Model, state) -> None:
    """Puts one run's state into its model's variables (Keras' `jax_state_sync`)."""
    for group, values in zip(_variables(model), state, strict=True):
        for variable, value in zip(group, values, strict=True):
            variable.assign(value)


def _stack(states: list):
    return jax.tree.map(lambda *leaves: jnp.stack(leaves), *states)


def _last(history: keras.callbacks.History) -> dict:
    return {name: values[-1] for name, values in history.history.items() if values}
