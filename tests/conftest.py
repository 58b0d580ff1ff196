"""Shared fixtures: the real IMDB data from ../shared/data, and one small grid run."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

# The tool's default backend, set before any test imports Keras.
os.environ.setdefault("KERAS_BACKEND", "jax")
# Decoded data goes to a cache of this session's, not the user's.
os.environ.setdefault("IMDB_TUNE_CACHE", tempfile.mkdtemp(prefix="imdb-tune-cache-"))

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO.parent / "shared" / "data" / "imdb.npz"
# Where Keras downloads the dataset from (keras.datasets.imdb).
KERAS_ORIGIN = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/"


@pytest.fixture(scope="session")
def imdb_path() -> Path:
    """A Keras-format imdb.npz with imdb_word_index.json beside it: $IMDB_DATA,
    else ../shared/data/imdb.npz, else Keras' cached (or downloaded) copy."""
    path = Path(os.environ.get("IMDB_DATA") or DEFAULT_DATA)
    if path.is_file():
        return path
    import keras

    try:
        for name in ("imdb_word_index.json", "imdb.npz"):
            downloaded = keras.utils.get_file(name, origin=KERAS_ORIGIN + name)
    except Exception as e:  # get_file wraps network errors in plain Exception
        pytest.fail(f"IMDB data not at {path}, nor downloadable ({e}). Set IMDB_DATA.")
    return Path(downloaded)


@pytest.fixture
def nan_hypermodel():
    """A `SentimentHyperModel` whose models' loss is NaN from the first batch."""
    import keras
    import numpy as np

    from hypermodels import SentimentHyperModel

    class NaNHyperModel(SentimentHyperModel):
        def build(self, hp):
            model = super().build(hp)
            poisoned = keras.Sequential(
                [*model.layers[:-1], keras.layers.Lambda(lambda x: x * np.nan)]
            )
            poisoned.add(model.layers[-1])
            poisoned.compile(optimizer="adam", loss="mse", metrics=["accuracy"])
            return poisoned

    return NaNHyperModel


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
