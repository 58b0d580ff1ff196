"""Prepares a process to train: the Keras backend, TensorFlow, XLA's cache.

A search and each of its workers call `prepare` before Keras is imported.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

from tuning import cli
from tuning.errors import UsageError

# Under the machine's cache directory (`tuning.data.cache_directory`): XLA's
# compiled training and validation steps, kept across runs and run directories.
COMPILE_CACHE = "xla"


def prepare(backend: str) -> None:
    """Selects `backend`, loads or keeps out TensorFlow (see
    `settle_tensorflow`) and, on JAX, keeps compilations on disk (see
    `cache_compilations`).

    Raises:
        UsageError: see `select_backend`.
    """
    select_backend(backend)
    settle_tensorflow(backend)
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


def settle_tensorflow(backend: str) -> None:
    """Loads TensorFlow quietly for its backend; on any other, keeps it out.

    Keras and TensorBoard import TensorFlow whenever it is installed, on
    every backend: Keras to seed `tf.data` in `keras.utils.set_random_seed`
    and to recognise TensorFlow objects when it serializes, TensorBoard for
    its file system. A run on JAX has no `tf.data` and no TensorFlow
    objects, and the import took 3.5-5 s of a 10-14 s quick check. A `None`
    in `sys.modules` makes `import tensorflow` fail as if it were not
    installed (Python's own way to block an import), so they take the paths
    of a JAX-only install, which the tests run too. A TensorFlow already
    loaded (a Python session that imported it) is left alone.
    """
    if backend == "tensorflow":
        cli.load_tensorflow_quietly()
    else:
        sys.modules.setdefault("tensorflow", None)


def cache_compilations(directory: Path) -> None:
    """Keeps JAX's compiled functions in `directory` (JAX's persistent cache).

    Every trial compiles its training and validation steps, 2-3 s here. A
    model trained again (a repeat, the grid's "64 Units", which is its
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
        # JAX's default (1 s) would skip the validation step (about 0.5 s).
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.2)
