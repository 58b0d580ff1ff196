"""Raw review text as the model's input: the dataset's word index, and the
tokenizer that `python -m tuning.predict` applies to new reviews.

The reviews were ranked after Keras' punctuation filter and lowercasing
(../shared/data/README.md); a new review goes through the same, and its
ranks become ids as the dataset's do (`tuning.data.word_ids`).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from tuning.data import START_CHAR, downloaded, word_ids
from tuning.errors import DataError
from tuning.settings import NUM_WORDS, SEQUENCE_LENGTH

# What the dataset's text went through before ranking (shared/data/README.md):
# Keras' punctuation filter plus tab and newline become spaces, then lowercase.
_FILTERED = '!"#$%&()*+,-./:;<=>?@[\\]^_`{|}~\t\n'
_TO_SPACES = str.maketrans(_FILTERED, " " * len(_FILTERED))
KERAS_WORD_INDEX_FILE = "imdb_word_index.json"


def load_word_index(data_path: Path | None) -> dict[str, int]:
    """The word -> rank mapping of the data: `imdb_word_index.json` beside a
    local `imdb.npz`, else Keras' download.

    Raises:
        DataError: if neither can be had.
    """
    if data_path is not None:
        local = Path(data_path).with_name(KERAS_WORD_INDEX_FILE)
        if local.is_file():
            return check_word_index(local)
    import keras

    return downloaded(
        keras.datasets.imdb.get_word_index,
        f"Put {KERAS_WORD_INDEX_FILE} next to the local imdb.npz.",
    )


def check_word_index(path: Path) -> dict[str, int]:
    """Reads a word index: a JSON object of words and their integer ranks.

    Raises:
        DataError: naming the file, if it is anything else.
    """
    try:
        words = json.loads(path.read_text())
    except (OSError, ValueError, UnicodeDecodeError) as e:
        raise DataError(f"Cannot read the word index {str(path)!r} ({e}).") from None
    if not isinstance(words, dict) or not all(
        isinstance(word, str) and type(rank) is int for word, rank in words.items()
    ):
        raise DataError(
            f"{str(path)!r} is not a word index (a JSON object of words and their "
            f"integer ranks). Put the {KERAS_WORD_INDEX_FILE} of the data there."
        )
    return words


def encode_reviews(
    texts: list[str],
    word_index: dict[str, int],
    num_words: int = NUM_WORDS,
    maxlen: int = SEQUENCE_LENGTH,
) -> np.ndarray:
    """Tokenizes raw reviews the way the dataset was, then pads them.

    Words are lowercased and split after the dataset's punctuation filter;
    words the index lacks are dropped (as unseen test words were), the rest
    become ids as the dataset's ranks do, and the start character leads.

    Returns:
        An int32 array of shape `(len(texts), maxlen)`.
    """
    from keras.utils import pad_sequences

    sequences = []
    for text in texts:
        words = text.translate(_TO_SPACES).lower().split()
        ranks = [word_index[w] for w in words if w in word_index]
        sequences.append([START_CHAR, *word_ids(ranks, num_words).tolist()])
    return pad_sequences(sequences, maxlen=maxlen)
