"""The search modes from the command line: random, Bayesian and Hyperband
searches, and a random search killed mid-trial and resumed."""

import json

import pytest

from tests.conftest import proposed_trials, read_csv, run_with_fault
from tuning import search
from tuning.run_dir import RunDir


def random_search_argv(imdb_path, logdir):
    argv = ["--mode", "random", "--max-trials", "12", "--epochs", "2"]
    argv += ["--limit", "200", "--seed", "3", "--data", str(imdb_path)]
    return argv + ["--logdir", str(logdir), "-q"]


@pytest.fixture(scope="module")
def killed_and_resumed(imdb_path, tmp_path_factory):
    """A 12-trial random search, killed after the first epoch of trial 05,
    then run again."""
    logdir = tmp_path_factory.mktemp("resume")
    argv = random_search_argv(imdb_path, logdir)
    killed = run_with_fault(["kill-at-epoch", "1", "05"], "tuning.search", argv)
    assert killed.returncode == -9, killed.stderr[-2000:]
    run_dir = RunDir(logdir / "random")
    finished = {
        path.parent.name: (path.stat().st_mtime_ns, path.read_text())
        for path in run_dir.root.glob("trial_0[0-4]/history_0.csv")
    }
    assert len(read_csv(run_dir.history_csv("05", 0))) == 1  # killed mid-trial
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
        history = run_dir.root / name / "history_0.csv"
        assert (history.stat().st_mtime_ns, history.read_text()) == (mtime, text)
    results = read_csv(run_dir.results_csv)
    assert [row["trial_id"] for row in results] == [f"{i:02d}" for i in range(12)]
    assert all(row["status"] == "COMPLETED" and row["epochs"] == "2" for row in results)
    assert len(read_csv(run_dir.history_csv("05", 0))) == 2  # trained again, whole
    # The same trials, in the same order, as an uninterrupted search with seed 3.
    for row, planned in zip(
        results, proposed_trials(tmp_path, "random", 3, 12), strict=True
    ):
        assert row["units"] == str(planned["units"])
        assert row["activation"] == planned["activation"]
        assert float(row["learning_rate"]) == pytest.approx(planned["learning_rate"])
        assert ("dropout" in planned) == (row["dropout"] != "")


@pytest.mark.slow
def test_the_best_model_is_the_best_trial_of_the_search(killed_and_resumed):
    _, run_dir, _ = killed_and_resumed
    best = json.loads(run_dir.best_model.description.read_text())
    results = read_csv(run_dir.results_csv)
    top = max(float(row["objective_mean"]) for row in results)
    (chosen,) = [row for row in results if row["trial_id"] == best["trial_id"]]
    assert float(chosen["objective_mean"]) == top  # the best, or tied with it
    assert best["score"] == pytest.approx(top)


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["bayesian", "hyperband"])
def test_bayesian_and_hyperband_run_from_the_cli(mode, imdb_path, tmp_path):
    argv = ["--mode", mode, "--epochs", "3", "--limit", "150"]
    argv += ["--max-trials", "3"] if mode == "bayesian" else []
    argv += ["--seed", "2", "--data", str(imdb_path), "--logdir", str(tmp_path), "-q"]
    assert search.main(argv) == 0
    run_dir = RunDir(tmp_path / mode)
    results = read_csv(run_dir.results_csv)
    assert results and all(row["status"] == "COMPLETED" for row in results)
    if mode == "bayesian":
        assert len(results) == 3
    else:  # a promoted trial trains only the epochs Hyperband adds
        for row in results:
            added = int(row["tuner/epochs"]) - int(row["tuner/initial_epoch"])
            assert int(row["epochs"]) == added
        continued = [row for row in results if row["tuner/trial_id"]]
        assert continued and {row["tuner/epochs"] for row in results} > {"3"}
        history = read_csv(run_dir.histories_csv)
        for row in continued:
            numbers = [h["epoch"] for h in history if h["trial_id"] == row["trial_id"]]
            assert numbers[0] == str(int(row["tuner/initial_epoch"]) + 1)
    assert run_dir.best_model.model.is_file()
    assert run_dir.report.is_file()
