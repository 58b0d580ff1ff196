"""Random, Bayesian and Hyperband searches from the CLI, resume after SIGKILL,
failed trials, the best model and `tuning.predict`."""

import csv
import json
import os
import signal
import subprocess
import sys
import time

import keras
import keras_tuner as kt
import numpy as np
import pytest

from hypermodels import WIDE_SPACE, SentimentHyperModel
from tuning import predict, search
from tuning.data import encode_reviews
from tuning.modes import make_oracle
from tuning.run_dir import RunDir
from tuning.settings import StudySettings
from tuning.tuner import StudyTuner

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def read_csv(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def random_search_argv(imdb_path, logdir):
    argv = ["--mode", "random", "--max-trials", "12", "--epochs", "2"]
    argv += ["--limit", "200", "--seed", "3", "--data", str(imdb_path)]
    return argv + ["--logdir", str(logdir), "-q"]


def planned_trials(tmp_path, seed, count):
    """What an uninterrupted random search with `seed` proposes, untrained."""
    settings = StudySettings(mode="random", max_trials=count, seed=seed)
    oracle = make_oracle(settings)
    run_dir = RunDir(tmp_path / "plan")
    StudyTuner(oracle, SentimentHyperModel(WIDE_SPACE), run_dir, settings)
    planned = []
    for _ in range(count):
        trial = oracle.create_trial("tuner0")
        planned.append(dict(trial.hyperparameters.values))
        oracle.update_trial(trial.trial_id, {"val_accuracy": 0.5})
        trial.status = "COMPLETED"
        oracle.end_trial(trial)
    return planned


@pytest.fixture(scope="module")
def killed_and_resumed(imdb_path, tmp_path_factory):
    """A 12-trial random search, SIGKILLed while training trial 05, then rerun."""
    logdir = tmp_path_factory.mktemp("resume")
    command = [sys.executable, "-m", "tuning.search"]
    command += random_search_argv(imdb_path, logdir)
    process = subprocess.Popen(command, cwd=REPO, stderr=subprocess.DEVNULL)
    killed_history = logdir / "random" / "trial_05" / "history_0.csv"
    deadline = time.monotonic() + 300
    while not killed_history.exists():
        assert process.poll() is None, "the search ended before it could be killed"
        assert time.monotonic() < deadline
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.wait()
    run_dir = logdir / "random"
    finished = {
        path.parent.name: (path.stat().st_mtime_ns, path.read_text())
        for path in run_dir.glob("trial_0[0-4]/history_0.csv")
    }
    status = search.main(random_search_argv(imdb_path, logdir))
    return status, run_dir, finished


@pytest.mark.slow
def test_killed_search_resumes_without_losing_or_repeating_a_trial(
    killed_and_resumed, tmp_path
):
    status, run_dir, finished = killed_and_resumed
    assert status == 0
    assert len(finished) == 5  # trials 00-04 had finished before the kill
    for name, (mtime, text) in finished.items():
        history = run_dir / name / "history_0.csv"
        assert (history.stat().st_mtime_ns, history.read_text()) == (mtime, text)
    results = read_csv(run_dir / "results.csv")
    assert [row["trial_id"] for row in results] == [f"{i:02d}" for i in range(12)]
    assert all(row["status"] == "COMPLETED" and row["epochs"] == "2" for row in results)
    # The same trials, in the same order, as an uninterrupted search with seed 3.
    for row, planned in zip(results, planned_trials(tmp_path, 3, 12), strict=True):
        assert row["units"] == str(planned["units"])
        assert row["activation"] == planned["activation"]
        assert float(row["learning_rate"]) == pytest.approx(planned["learning_rate"])
        assert ("dropout" in planned) == (row["dropout"] != "")


@pytest.mark.slow
def test_best_model_scores_reviews_from_arguments_file_and_stdin(
    killed_and_resumed, tmp_path, capsys, monkeypatch
):
    _, run_dir, _ = killed_and_resumed
    best = json.loads((run_dir / "best_model" / "trial.json").read_text())
    results = read_csv(run_dir / "results.csv")
    top = max(float(row["best_val_accuracy"]) for row in results)
    (chosen,) = [row for row in results if row["trial_id"] == best["trial_id"]]
    assert float(chosen["best_val_accuracy"]) == top  # the best, or tied with it
    assert best["score"] == pytest.approx(top)
    saved = keras.saving.load_model(run_dir / "best_model" / "model.keras")
    assert type(saved) is keras.Sequential  # any Keras loads it, no custom class

    reviews = ["a wonderful, moving film", "a boring, stupid waste of time"]
    assert predict.main([str(run_dir), *reviews]) == 0
    from_args = capsys.readouterr().out.splitlines()
    assert [line.split("\t")[1] for line in from_args] == reviews
    # The saved model's own scores of the dataset's tokenization of the text.
    word_index = json.loads((run_dir / "best_model" / "word_index.json").read_text())
    expected = saved.predict(encode_reviews(reviews, word_index), verbose=0)[:, 0]
    printed = [float(line.split("\t")[0]) for line in from_args]
    assert printed == pytest.approx(expected.tolist(), abs=5e-5)

    review_file = tmp_path / "reviews.txt"
    review_file.write_text("\n".join(reviews) + "\n")
    assert predict.main([str(run_dir), "--file", str(review_file)]) == 0
    assert capsys.readouterr().out.splitlines() == from_args
    monkeypatch.setattr("sys.stdin", open(review_file))
    assert predict.main([str(run_dir)]) == 0
    assert capsys.readouterr().out.splitlines() == from_args


def test_predict_without_a_best_model_is_one_line_status_2(tmp_path, capsys):
    assert predict.main([str(tmp_path), "great"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "No best model" in err[0]


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["bayesian", "hyperband"])
def test_bayesian_and_hyperband_run_from_the_cli(mode, imdb_path, tmp_path):
    argv = ["--mode", mode, "--epochs", "3", "--limit", "150"]
    argv += ["--max-trials", "3"] if mode == "bayesian" else []
    argv += ["--seed", "2", "--data", str(imdb_path), "--logdir", str(tmp_path), "-q"]
    assert search.main(argv) == 0
    results = read_csv(tmp_path / mode / "results.csv")
    assert results and all(row["status"] == "COMPLETED" for row in results)
    if mode == "bayesian":
        assert len(results) == 3
    else:  # a promoted trial trains only the epochs Hyperband adds
        for row in results:
            added = int(row["tuner/epochs"]) - int(row["tuner/initial_epoch"])
            assert int(row["epochs"]) == added
        continued = [row for row in results if row["tuner/trial_id"]]
        assert continued and {row["tuner/epochs"] for row in results} > {"3"}
        history = read_csv(tmp_path / mode / "histories.csv")
        for row in continued:
            numbers = [h["epoch"] for h in history if h["trial_id"] == row["trial_id"]]
            assert numbers[0] == str(int(row["tuner/initial_epoch"]) + 1)
    assert (tmp_path / mode / "best_model" / "model.keras").is_file()
    assert (tmp_path / mode / "report.md").is_file()


def test_nan_trials_are_recorded_as_failed_and_the_search_goes_on(
    tmp_path, nan_hypermodel
):
    settings = StudySettings(mode="random", max_trials=2, seed=1)
    oracle = make_oracle(settings)
    tuner = StudyTuner(
        oracle, nan_hypermodel(WIDE_SPACE), RunDir(tmp_path / "nan"), settings
    )
    x = np.random.RandomState(0).randint(0, 100, size=(64, 16))
    y = np.arange(64) % 2
    tuner.search(x, y, validation_data=(x, y), epochs=2, batch_size=32, verbose=0)
    trials = list(oracle.trials.values())
    assert len(trials) == 2
    for trial in trials:
        assert trial.status == kt.engine.trial.TrialStatus.FAILED
        assert "Loss became nan in epoch 1" in trial.message


def test_a_continued_trial_starts_from_the_checkpoint_weights_and_adam_state(
    tmp_path,
):
    from tuning.tuner import _continue_from

    hp = kt.HyperParameters()
    x = np.random.RandomState(0).randint(0, 100, size=(64, 16))
    y = np.arange(64) % 2
    trained = SentimentHyperModel().build(hp)
    trained.fit(x, y, epochs=2, batch_size=32, verbose=0)
    checkpoint = str(tmp_path / "checkpoint.weights.h5")
    trained.save_weights(checkpoint)
    continued = SentimentHyperModel().build(hp)
    _continue_from(continued, checkpoint)
    assert int(continued.optimizer.iterations) == 4
    for ours, theirs in zip(
        continued.optimizer.variables, trained.optimizer.variables, strict=True
    ):
        np.testing.assert_array_equal(np.asarray(ours), np.asarray(theirs))
    for ours, theirs in zip(continued.weights, trained.weights, strict=True):
        np.testing.assert_array_equal(np.asarray(ours), np.asarray(theirs))
