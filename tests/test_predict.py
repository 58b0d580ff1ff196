"""`python -m tuning.predict`: the best model scores raw reviews."""

import json

import keras
import pytest

from tuning import predict
from tuning.files import write_text_atomically
from tuning.run_dir import RunDir
from tuning.text import encode_reviews


def test_predict_without_a_best_model_is_one_line_status_2(tmp_path, capsys):
    assert predict.main([str(tmp_path), "great"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "No best model" in err[0]


@pytest.mark.parametrize("model", ["garbage", "lambda", "vocabulary"])
def test_predict_on_a_model_it_cannot_load_is_one_line(model, tmp_path, capsys):
    run_dir = RunDir(tmp_path)
    run_dir.best_model.root.mkdir()
    run_dir.best_model.vocabulary.write_text('{"good": 1}')
    write_text_atomically(run_dir.study, '{"backend": "jax"}')
    target = run_dir.best_model.model
    if model == "vocabulary":  # a good model, a word index that is not one
        keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)]).save(target)
        run_dir.best_model.vocabulary.write_text('["good", "bad"]')
    elif model == "garbage":
        target.write_bytes(b"PK\x03\x04 not a model")
    else:  # code in a Lambda layer: safe mode refuses it
        keras.Sequential([keras.Input((2,)), keras.layers.Lambda(lambda x: x)]).save(
            target
        )
    assert predict.main([str(tmp_path), "great"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "Cannot load the best model" in err[0], err


@pytest.mark.slow
def test_best_model_scores_reviews_from_arguments_file_and_stdin(
    grid_run, tmp_path, capsys, monkeypatch
):
    best = RunDir(grid_run[1]).best_model
    saved = keras.saving.load_model(best.model)
    assert type(saved) is keras.Sequential  # any Keras loads it, no custom class

    reviews = ["a wonderful, moving film", "a boring, stupid waste of time"]
    assert predict.main([str(grid_run[1]), *reviews]) == 0
    from_args = capsys.readouterr().out.splitlines()
    assert [line.split("\t")[1] for line in from_args] == reviews
    # The saved model's own scores of the dataset's tokenization of the text.
    word_index = json.loads(best.vocabulary.read_text())
    expected = saved.predict(encode_reviews(reviews, word_index), verbose=0)[:, 0]
    printed = [float(line.split("\t")[0]) for line in from_args]
    assert printed == pytest.approx(expected.tolist(), abs=5e-5)

    review_file = tmp_path / "reviews.txt"
    review_file.write_text("\n".join(reviews) + "\n")
    assert predict.main([str(grid_run[1]), "--file", str(review_file)]) == 0
    assert capsys.readouterr().out.splitlines() == from_args
    monkeypatch.setattr("sys.stdin", open(review_file))
    assert predict.main([str(grid_run[1])]) == 0
    assert capsys.readouterr().out.splitlines() == from_args


def test_reviews_that_are_not_utf8_are_read_alike_from_a_file_and_stdin(
    tmp_path, monkeypatch
):
    import argparse
    import io

    data = b"a wonderful film \xff\xfe\n\x80 boring\n"
    review_file = tmp_path / "reviews.txt"
    review_file.write_bytes(data)
    from_file = predict.read_reviews(argparse.Namespace(reviews=[], file=review_file))
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(data)))
    from_stdin = predict.read_reviews(argparse.Namespace(reviews=[], file=None))
    assert from_file == from_stdin == ["a wonderful film \ufffd\ufffd", "\ufffd boring"]
