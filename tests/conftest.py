"""Shared fixtures: the real IMDB data from ../shared/data, and one small grid run."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# The tool's default backend, set before any test imports Keras.
os.environ.setdefault("KERAS_BACKEND", "jax")

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO.parent / "shared" / "data" / "imdb.npz"


@pytest.fixture(scope="session")
def imdb_path() -> Path:
    """The local Keras-format imdb.npz: $IMDB_DATA, else ../shared/data/imdb.npz."""
    path = Path(os.environ.get("IMDB_DATA") or DEFAULT_DATA)
    if not path.is_file():
        pytest.fail(f"IMDB data not found at {path}; set IMDB_DATA to imdb.npz")
    return path


@pytest.fixture(autouse=True)
def _seed():
    import keras

    keras.utils.set_random_seed(0)


@pytest.fixture(scope="session")
def grid_run(imdb_path, tmp_path_factory):
    """All nine variants, 1 epoch, on the first 256 reviews of each split."""
    from tuning import search

    logdir = tmp_path_factory.mktemp("logs")
    argv = ["--mode", "grid", "--epochs", "1", "--limit", "256"]
    argv += ["--data", str(imdb_path), "--logdir", str(logdir), "-q"]
    return search.main(argv), logdir / "grid"
