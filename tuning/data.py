"""The IMDB reviews as padded integer sequences.

By default the data comes from `keras.datasets.imdb.load_data`, which downloads
`imdb.npz` once and caches it. A local Keras-format `imdb.npz` (`--data PATH` or
the `IMDB_DATA` environment variable) is read without the download and
transformed exactly as `load_data` would transform it, so a run on a local copy
matches a run on the downloaded file. The padded arrays of a local file are
kept on disk (`cache_directory()`), keyed by the file's content and the
transform's settings, so each machine decodes a file once.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import os
import pickle
import zipfile
from pathlib import Path

import numpy as np

from tuning.errors import DataError
from tuning.files import atomic_file
from tuning.settings import DATA_ENV_VAR, KERAS_DOWNLOAD, NUM_WORDS, SEQUENCE_LENGTH

CACHE_ENV_VAR = "IMDB_TUNE_CACHE"

# `keras.datasets.imdb.load_data` defaults, which the local path reproduces.
_SHUFFLE_SEED = 113
START_CHAR = 1
_OOV_CHAR = 2
_INDEX_FROM = 3
_KEYS = ("x_train", "y_train", "x_test", "y_test")


@dataclasses.dataclass(frozen=True)
class Dataset:
    """Padded reviews and labels for training and evaluation.

    Attributes:
        x_train: int32 array of shape `(n_train, SEQUENCE_LENGTH)`.
        y_train: int array of shape `(n_train,)`, 1 for a positive review.
        x_test: int32 array of shape `(n_test, SEQUENCE_LENGTH)`.
        y_test: int array of shape `(n_test,)`.
        source: where the data came from, for the run's records.
    """

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    source: str

    def head(self, limit: int) -> Dataset:
        """Returns the first `limit` training and test reviews (already shuffled)."""
        return dataclasses.replace(
            self,
            x_train=self.x_train[:limit],
            y_train=self.y_train[:limit],
            x_test=self.x_test[:limit],
            y_test=self.y_test[:limit],
        )


def check_data_file(path: Path | None) -> None:
    """Refuses a local data file that does not exist (`None`: the download).

    Raises:
        DataError: naming the file and how to pass another.
    """
    if path is not None and not path.is_file():
        raise DataError(
            f"IMDB data file not found: {str(path)!r}. Pass --data PATH to a "
            f"Keras-format imdb.npz (or set {DATA_ENV_VAR})."
        )


def load_imdb(
    path: Path | None = None,
    num_words: int = NUM_WORDS,
    maxlen: int = SEQUENCE_LENGTH,
) -> Dataset:
    """Loads IMDB as `pad_sequences(maxlen)` arrays of the top `num_words` words.

    Args:
        path: a local Keras-format `imdb.npz`, or
            `None` for Keras' download. Defaults to `None`.
        num_words: vocabulary size; rarer words become the OOV index.
            Defaults to 10,000.
        maxlen: length every review is padded or truncated to (Keras
            `pad_sequences` defaults: both at the front). Defaults to 256.

    Returns:
        A `Dataset`.

    Raises:
        DataError: if the file is not an IMDB npz, or if the download fails.
    """
    if path is None:
        splits = _download(num_words)
        for split, (x, y) in zip(("train", "test"), splits, strict=True):
            check_split(KERAS_DOWNLOAD, split, x, y)
        return Dataset(**_padded(splits, maxlen), source=KERAS_DOWNLOAD)
    cached = _cache_file(Path(path), num_words, maxlen)
    arrays = _read_cache(cached)
    if arrays is None:
        arrays = _padded(load_local_sequences(path, num_words), maxlen)
        _write_cache(cached, arrays)
    return Dataset(**arrays, source=str(Path(path).resolve()))


def _padded(splits, maxlen: int) -> dict[str, np.ndarray]:
    """`(x_train, y_train), (x_test, y_test)` as `Dataset`'s padded arrays."""
    from keras.utils import pad_sequences

    (x_train, y_train), (x_test, y_test) = splits
    return {
        "x_train": pad_sequences(x_train, maxlen=maxlen),
        "y_train": np.asarray(y_train),
        "x_test": pad_sequences(x_test, maxlen=maxlen),
        "y_test": np.asarray(y_test),
    }


def cache_directory() -> Path:
    """Where decoded data is kept: `$IMDB_TUNE_CACHE`, else `~/.cache/imdb-tune`."""
    return Path(os.environ.get(CACHE_ENV_VAR) or Path.home() / ".cache" / "imdb-tune")


def _cache_file(path: Path, num_words: int, maxlen: int) -> Path:
    """The cache entry of a file's content under one transform."""
    digest = hashlib.sha256(path.read_bytes()).hexdigest()[:32]
    transform = f"{num_words}w-{maxlen}l-{_SHUFFLE_SEED}s-{_INDEX_FROM}i"
    return cache_directory() / f"imdb-{digest}-{transform}.npz"


def _read_cache(path: Path) -> dict[str, np.ndarray] | None:
    """A cache entry's arrays; `None` if it is missing or unreadable."""
    try:
        with np.load(path, allow_pickle=False) as arrays:
            return {key: arrays[key] for key in _KEYS}
    except (OSError, ValueError, KeyError, zipfile.BadZipFile):
        return None


def _write_cache(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """Writes a cache entry atomically; a cache that cannot be written is skipped."""
    with contextlib.suppress(OSError), atomic_file(path) as file:
        np.savez(file, **arrays)


def load_local_sequences(path: str | os.PathLike, num_words: int = NUM_WORDS):
    """Reads a local `imdb.npz` the way `keras.datasets.imdb.load_data` does.

    Same seed-113 shuffle, start character, `index_from` offset and
    `num_words` cut, applied with numpy instead of per-word Python loops.

    Returns:
        `(x_train, y_train), (x_test, y_test)`, with `x_*` lists of int arrays.

    Raises:
        DataError: if the file is not an npz holding the four IMDB arrays, or
            if they are not valid reviews (see `check_split`).
    """
    arrays = _read_npz(Path(path))
    rng = np.random.RandomState(_SHUFFLE_SEED)
    splits = []
    for split in ("train", "test"):
        x, y = arrays[f"x_{split}"], arrays[f"y_{split}"]
        check_split(repr(str(path)), split, x, y)
        order = np.arange(len(x))
        rng.shuffle(order)
        try:
            encoded = _encode(x[order], num_words)
        except (TypeError, ValueError, OverflowError) as e:
            raise DataError(
                f"{str(path)!r}: x_{split} must hold one list of word ranks "
                f"(integers >= 0) per review ({e}). Pass --data PATH to a "
                "Keras-format imdb.npz."
            ) from None
        splits.append((encoded, y[order]))
    return tuple(splits)


def check_split(source: str, split: str, x, y) -> None:
    """Checks that a split has reviews, one label per review, and 0/1 labels.

    Raises:
        DataError: naming the split and what is wrong with it.
    """
    fix = "Pass --data PATH to a valid Keras-format imdb.npz."
    if len(x) == 0:
        raise DataError(f"{source}: x_{split} holds no review. {fix}")
    if len(x) != len(y):
        raise DataError(
            f"{source}: x_{split} holds {len(x)} reviews but y_{split} {len(y)} "
            f"labels. {fix}"
        )
    labels = np.unique(np.asarray(y)).tolist()
    if not set(labels) <= {0, 1}:
        raise DataError(
            f"{source}: y_{split} holds labels {labels[:6]}; expected 0 "
            f"(negative) and 1 (positive). {fix}"
        )


def _encode(reviews: np.ndarray, num_words: int) -> list[np.ndarray]:
    """Prepends the start character, offsets word ranks and maps rare ones to OOV."""
    lengths = np.fromiter((len(review) + 1 for review in reviews), dtype=np.int64)
    flat = np.empty(lengths.sum(), dtype=np.int32)
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    flat[starts] = START_CHAR
    words = np.ones(len(flat), dtype=bool)
    words[starts] = False
    ranks = np.fromiter(
        (w for review in reviews for w in review), dtype=np.int64, count=words.sum()
    )
    if ranks.size and ranks.min() < 0:
        raise ValueError(f"found the negative rank {ranks.min()}")
    flat[words] = word_ids(ranks, num_words)
    return np.split(flat, starts[1:])


def word_ids(ranks, num_words: int) -> np.ndarray:
    """The model's ids of word ranks, as `keras.datasets.imdb.load_data` makes
    them: offset past the reserved ids, and the OOV id for a word outside
    the `num_words` most frequent."""
    ids = np.asarray(ranks, dtype=np.int64) + _INDEX_FROM
    return np.where(ids < num_words, ids, _OOV_CHAR)


def _read_npz(path: Path) -> dict[str, np.ndarray]:
    """Reads the npz without executing code: only numpy arrays are unpickled."""
    from keras.src.datasets import npz_utils

    try:
        arrays = npz_utils.load_npz(path)
    except (zipfile.BadZipFile, pickle.UnpicklingError, ValueError, OSError) as e:
        raise DataError(
            f"{str(path)!r} is not a readable imdb.npz ({type(e).__name__}: {e}). "
            "Pass --data PATH to a Keras-format imdb.npz."
        ) from None
    missing = [key for key in _KEYS if key not in arrays]
    if missing:
        raise DataError(
            f"{str(path)!r} lacks the IMDB arrays {missing}. Expected keys: "
            f"{list(_KEYS)}. Received: {sorted(arrays)}."
        )
    return arrays


def _download(num_words: int):
    """Keras' own loader; turns a failed download into a `DataError`."""
    import keras

    return downloaded(
        lambda: keras.datasets.imdb.load_data(num_words=num_words),
        f"When offline, pass --data PATH to a local imdb.npz (or set {DATA_ENV_VAR}).",
    )


def downloaded(fetch, fix: str):
    """Returns `fetch()`, a Keras download; a failure becomes a `DataError`."""
    try:
        return fetch()
    except Exception as e:  # get_file wraps network errors in plain Exception.
        raise DataError(
            f"Could not download from Keras ({type(e).__name__}: {e}). {fix}"
        ) from None


def holdout_split(
    x: np.ndarray, y: np.ndarray, fraction: float, seed: int = 0
) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """Holds out `fraction` of each label's examples, chosen with `seed`.

    Args:
        x: inputs.
        y: integer labels.
        fraction: share of each label to hold out, in (0, 1).
        seed: seed of the choice. Defaults to 0.

    Returns:
        `(x_fit, y_fit), (x_holdout, y_holdout)`, each in the original order.
    """
    rng = np.random.RandomState(seed)
    holdout = np.zeros(len(y), dtype=bool)
    for label in np.unique(y):
        members = np.flatnonzero(y == label)
        chosen = rng.choice(members, size=round(fraction * len(members)), replace=False)
        holdout[chosen] = True
    return (x[~holdout], y[~holdout]), (x[holdout], y[holdout])
