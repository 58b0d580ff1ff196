"""Prepares a process to train: the Keras backend, the packages it loads, XLA's cache.

A search and each of its workers call `prepare` before Keras is imported.
"""

from __future__ import annotations

import contextlib
import gc
import importlib.util
import os
import sys
from collections.abc import Iterator
from pathlib import Path

from tuning import cli
from tuning.errors import UsageError
from tuning.modes import MODES

# Under the machine's cache directory (`tuning.data.cache_directory`): XLA's
# compiled training and validation steps, kept across runs and run directories.
COMPILE_CACHE = "xla"


def prepare(backend: str, mode: str) -> None:
    """Selects `backend`, keeps out the packages a `mode` search on it does
    not use (see `settle_packages`) and, on JAX, keeps compilations on disk
    (see `cache_compilations`).

    Raises:
        UsageError: see `select_backend`.
    """
    select_backend(backend)
    settle_packages(backend, mode)
    if backend == "jax":
        from tuning.data import cache_directory

        cache_compilations(cache_directory() / COMPILE_CACHE)


def select_backend(backend: str) -> None:
    """Makes `backend` Keras' backend; it must precede Keras' import.

    Raises:
        UsageError: if the backend's package is not installed (TensorFlow
            and torch are optional), or Keras already runs on another.
    """
    if importlib.util.find_spec(backend) is None:
        extra = f' (pip install -e ".[{backend}]")' if backend == "tensorflow" else ""
        raise UsageError(
            f"The {backend} backend is not installed. Install {backend}{extra}, "
            "or pass --backend jax."
        )
    if "keras" in sys.modules:  # called from Python rather than the shell
        import keras

        if keras.backend.backend() != backend:
            raise UsageError(
                f"Keras is already running on {keras.backend.backend()!r}, not "
                f"{backend!r}. Pass --backend {keras.backend.backend()} or set "
                "KERAS_BACKEND before importing Keras."
            )
    os.environ["KERAS_BACKEND"] = backend


def settle_packages(backend: str, mode: str | None = None) -> None:
    """Loads TensorFlow quietly for its backend; keeps out TensorFlow on any
    other, and scikit-learn from a grid (`mode`).

    Keras, Keras Tuner and TensorBoard import both whenever they are
    installed: Keras TensorFlow to seed `tf.data` in
    `keras.utils.set_random_seed` and to recognise TensorFlow objects when
    it serializes, and scikit-learn for its scikit-learn wrappers; Keras
    Tuner scikit-learn for Bayesian optimization; TensorBoard TensorFlow for
    its file system. A run on JAX has no `tf.data` and no TensorFlow object,
    and a grid fits no scikit-learn model (Bayesian optimization does, and
    the importance of any wider search grows a random forest); their
    imports took seconds of a quick check. A `None` in `sys.modules`
    makes an import fail as if the package were not installed (Python's own
    way to block one), so they take their paths for an install without it,
    which the tests run too. A package already loaded (a Python session
    that imported it) is left alone.
    """
    if backend == "tensorflow":
        cli.load_tensorflow_quietly()
    needed = {
        "tensorflow": backend == "tensorflow",
        "sklearn": mode is None or MODES[mode].searches_space,
    }
    for package in (name for name, used in needed.items() if not used):
        sys.modules.setdefault(package, None)


def cache_compilations(directory: Path) -> None:
    """Keeps JAX's compiled functions in `directory` (JAX's persistent cache).

    Every trial compiles its training and validation steps, seconds on a
    CPU. A model trained again (a repeat, the grid's "64 Units", which is its
    Baseline, or any later study of the same variants, in any run directory)
    loads them from disk instead. JAX keys each entry by the program, the
    compiler options and versions, and the device, so one cache serves every
    run of a machine. A directory chosen with $JAX_COMPILATION_CACHE_DIR,
    and a threshold chosen with $JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS,
    are kept.
    """
    import jax

    if not jax.config.jax_compilation_cache_dir:
        jax.config.update("jax_compilation_cache_dir", str(directory))
    if "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS" not in os.environ:
        # Every compile: JAX's default (1 s) would skip the validation step,
        # and the initializers and small ops load faster than they compile.
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 0)


@contextlib.contextmanager
def collections_paused() -> Iterator[None]:
    """Pauses Python's automatic garbage collection for the block, e.g. while
    Keras, JAX and Keras Tuner load.

    The collector runs a full pass whenever the objects it tracks have grown
    by a quarter, so loading them ran five passes over an ever larger heap.
    Their imports leave little garbage: a full pass after a grid's imports
    and data freed 44 objects.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


@contextlib.contextmanager
def outliving_objects_frozen() -> Iterator[None]:
    """Keeps the objects that exist when the block starts out of the
    collector's passes until it ends.

    Keras Tuner runs a full collection before every trial and when it loads
    the best model, and Keras' `clear_session` another; with JAX (or
    TensorFlow) and the data loaded, each walks everything. Frozen objects
    (`gc.freeze`) are not scanned, so the passes walk only what the trials
    create. They are unfrozen at the end, so that a Python session that ran
    a study can collect them. What garbage they hold (a few dozen objects
    after the imports) waits until then: a full pass to free it first took
    0.09-0.16 s in a command's process, and 0.38 s in the test suite's.
    """
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()
