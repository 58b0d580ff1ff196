import pickle
import zipfile

import keras
import numpy as np
import pytest
from keras.src.datasets import imdb as keras_imdb

from tuning.data import (
    check_data_file,
    holdout_split,
    load_imdb,
    load_local_sequences,
)
from tuning.errors import DataError
from tuning.settings import NUM_WORDS, SEQUENCE_LENGTH
from tuning.text import encode_reviews


@pytest.fixture(scope="module")
def keras_reference(imdb_path):
    """Keras' own `load_data` transform, pointed at the local file."""
    original = keras_imdb.get_file
    keras_imdb.get_file = lambda **kwargs: str(imdb_path)
    try:
        return keras.datasets.imdb.load_data(num_words=NUM_WORDS)
    finally:
        keras_imdb.get_file = original


@pytest.mark.slow
def test_local_sequences_equal_keras_load_data(imdb_path, keras_reference):
    ours = load_local_sequences(imdb_path, NUM_WORDS)
    for (x, y), (x_ref, y_ref) in zip(ours, keras_reference, strict=True):
        assert len(x) == len(x_ref) == 25_000
        np.testing.assert_array_equal(y, y_ref)
        assert all(np.array_equal(a, b) for a, b in zip(x, x_ref, strict=True))


@pytest.fixture(scope="module")
def data(imdb_path):
    return load_imdb(imdb_path)


@pytest.mark.slow
def test_load_imdb_pads_like_pad_sequences(imdb_path, keras_reference, data):
    (x_ref, _), (x_test_ref, y_test_ref) = keras_reference
    assert data.x_train.shape == (25_000, SEQUENCE_LENGTH)
    np.testing.assert_array_equal(
        data.x_train, keras.utils.pad_sequences(x_ref, maxlen=SEQUENCE_LENGTH)
    )
    np.testing.assert_array_equal(
        data.x_test, keras.utils.pad_sequences(x_test_ref, maxlen=SEQUENCE_LENGTH)
    )
    np.testing.assert_array_equal(data.y_test, y_test_ref)
    assert data.x_train.max() == NUM_WORDS - 1
    assert data.source == str(imdb_path.resolve())


@pytest.mark.slow
def test_head_keeps_the_first_reviews_of_each_split(data):
    head = data.head(100)
    assert head.x_train.shape == (100, SEQUENCE_LENGTH)
    np.testing.assert_array_equal(head.x_test, data.x_test[:100])


def test_holdout_split_is_seeded_label_balanced_and_disjoint():
    y = np.array([0] * 60 + [1] * 40)
    x = np.arange(100)
    (x_fit, y_fit), (x_out, y_out) = holdout_split(x, y, 0.25, seed=3)
    assert sorted(np.concatenate([x_fit, x_out])) == list(range(100))
    assert (y_out == 0).sum() == 15 and (y_out == 1).sum() == 10
    (_, _), (x_again, _) = holdout_split(x, y, 0.25, seed=3)
    (_, _), (x_other, _) = holdout_split(x, y, 0.25, seed=4)
    np.testing.assert_array_equal(x_out, x_again)
    assert not np.array_equal(x_out, x_other)


def test_missing_file_names_the_fix(tmp_path):
    with pytest.raises(DataError, match="not found.*--data"):
        check_data_file(tmp_path / "nope.npz")


def test_file_that_is_not_an_npz(tmp_path):
    path = tmp_path / "imdb.npz"
    path.write_text("not a zip archive")
    with pytest.raises(DataError, match="not a readable imdb.npz"):
        load_imdb(path)


def test_npz_without_the_imdb_arrays(tmp_path):
    path = tmp_path / "imdb.npz"
    np.savez(path, x_train=np.zeros(3), y_train=np.zeros(3))
    with pytest.raises(
        DataError, match=r"lacks the IMDB arrays \['x_test', 'y_test'\]"
    ):
        load_imdb(path)


class _Exploit:
    """Pickles to a call that creates a file when unpickled."""

    def __init__(self, target):
        self.target = target

    def __reduce__(self):
        return (open, (str(self.target), "w"))


def test_loading_never_runs_code_from_the_file(tmp_path):
    target = tmp_path / "pwned"
    path = tmp_path / "imdb.npz"
    with zipfile.ZipFile(path, "w") as archive:
        header = np.lib.format.header_data_from_array_1_0(np.empty(1, dtype=object))
        with archive.open("x_train.npy", "w") as f:
            np.lib.format.write_array_header_1_0(f, header)
            pickle.dump(_Exploit(target), f)
    with pytest.raises(DataError, match="not a readable imdb.npz"):
        load_imdb(path)
    assert not target.exists()


def test_failed_download_says_how_to_pass_data(monkeypatch):
    def offline(**kwargs):
        raise Exception("URL fetch failure: [Errno -3] Temporary failure")

    monkeypatch.delenv("IMDB_DATA", raising=False)
    monkeypatch.setattr(keras_imdb, "get_file", offline)
    with pytest.raises(DataError, match="Could not download.*--data PATH"):
        load_imdb()


def test_encode_reviews_tokenizes_like_the_dataset():
    word_index = {"the": 1, "film": 19, "wonderful": 386, "rare": 20_000}
    (encoded,) = encode_reviews(["The film... WONDERFUL! unknownword rare"], word_index)
    assert encoded.shape == (SEQUENCE_LENGTH,)
    # start, the, film, wonderful (rank + 3); unknown dropped; rare -> OOV (2)
    assert encoded[-5:].tolist() == [1, 4, 22, 389, 2]
    assert not encoded[:-5].any()  # padded at the front


@pytest.mark.slow
def test_encoded_training_review_matches_the_stored_one(imdb_path, data):
    """A review rebuilt from its words encodes to the dataset's own sequence."""
    import json

    word_index = json.loads(imdb_path.with_name("imdb_word_index.json").read_text())
    words = {rank: word for word, rank in word_index.items()}
    (x, _), _ = load_local_sequences(imdb_path, num_words=100_000)
    text = " ".join(words[i - 3] for i in x[0][1:])
    (encoded,) = encode_reviews([text], word_index)
    np.testing.assert_array_equal(encoded, data.x_train[0])


def small_npz(path, first_word=5):
    reviews = np.empty(4, dtype=object)
    for i in range(4):
        reviews[i] = [first_word, 9 + i, 20_000]
    labels = np.array([1, 0, 1, 0])
    np.savez(path, x_train=reviews, y_train=labels, x_test=reviews, y_test=labels)
    return path


def test_decoded_data_is_cached_by_content_and_transform(tmp_path, monkeypatch):
    monkeypatch.setenv("IMDB_TUNE_CACHE", str(tmp_path / "cache"))
    path = small_npz(tmp_path / "imdb.npz")
    decoded = load_imdb(path)
    (entry,) = (tmp_path / "cache").iterdir()
    cached = load_imdb(path)
    for key in ("x_train", "y_train", "x_test", "y_test"):
        np.testing.assert_array_equal(getattr(cached, key), getattr(decoded, key))
    row = cached.x_train[0, -4:].tolist()  # start, 5 + offset, a word, OOV
    assert row[:2] == [1, 5 + 3] and row[3] == 2
    load_imdb(path, maxlen=16)  # another transform: another entry
    small_npz(path, first_word=6)  # another content: another entry
    assert load_imdb(path).x_train[0, -3] == 6 + 3
    assert len(list((tmp_path / "cache").iterdir())) == 3
    entry.write_bytes(b"damaged")
    small_npz(path)
    np.testing.assert_array_equal(load_imdb(path).x_train, decoded.x_train)


@pytest.mark.parametrize("content", ['["good"]', '{"good": "1"}', "{"])
def test_a_word_index_that_is_not_one_is_refused(content, tmp_path):
    from tuning.text import load_word_index

    (tmp_path / "imdb_word_index.json").write_text(content)
    with pytest.raises(DataError, match="imdb_word_index.json"):
        load_word_index(tmp_path / "imdb.npz")
