"""The search modes from the command line: random, Bayesian and Hyperband
searches, and a random search killed mid-trial and resumed."""

import dataclasses
import json

import pytest

from tests.conftest import (
    learning_rate_alone,
    one_line_error,
    proposed_trials,
    read_csv,
    run_search,
    run_with_fault,
    search_of,
)
from tuning import search
from tuning.modes import MODES, Mode
from tuning.run_dir import RunDir

# Seed 1 on 192 reviews, as the distributed tests' searches (`SMALL`): every mode
# proposes the same first trials from a seed, so their models compile once a
# session and later tests load them from the compile cache.
SEED = 1
SEARCHED = ["--limit", "192", "--seed", str(SEED)]


def random_search_argv(imdb_path, logdir):
    argv = ["--mode", "random", "--max-trials", "5", "--epochs", "2", *SEARCHED]
    argv += ["--data", str(imdb_path)]
    return argv + ["--logdir", str(logdir), "-q"]


@pytest.fixture(scope="module")
def killed_and_resumed(imdb_path, tmp_path_factory):
    """A 5-trial random search, killed after the first epoch of trial 3,
    then run again."""
    logdir = tmp_path_factory.mktemp("resume")
    argv = random_search_argv(imdb_path, logdir)
    killed = run_with_fault(["kill-at-epoch", "1", "3"], "tuning.search", argv)
    assert killed.returncode == -9, killed.stderr[-2000:]
    run_dir = RunDir(logdir / "random")
    finished = {
        path.parent.name: (path.stat().st_mtime_ns, path.read_text())
        for path in run_dir.root.glob("trial_[0-2]/history_0.csv")
    }
    assert len(read_csv(run_dir.history_csv("3", 0))) == 1  # killed mid-trial
    status = search.main(random_search_argv(imdb_path, logdir))
    return status, run_dir, finished


@pytest.mark.slow
def test_killed_search_resumes_without_losing_or_repeating_a_trial(
    killed_and_resumed, tmp_path
):
    status, run_dir, finished = killed_and_resumed
    assert status == 0
    assert len(finished) == 3  # trials 0-2 had finished before the kill
    for name, (mtime, text) in finished.items():
        history = run_dir.root / name / "history_0.csv"
        assert (history.stat().st_mtime_ns, history.read_text()) == (mtime, text)
    results = read_csv(run_dir.results_csv)
    assert [row["trial_id"] for row in results] == [str(i) for i in range(5)]
    assert all(row["status"] == "COMPLETED" and row["epochs"] == "2" for row in results)
    assert len(read_csv(run_dir.history_csv("3", 0))) == 2  # trained again, whole
    # The same trials, in the same order, as an uninterrupted search.
    for row, planned in zip(
        results, proposed_trials(tmp_path, "random", SEED, 5), strict=True
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
def test_plot_redraws_a_search_s_curves_without_assessing_importance_again(
    killed_and_resumed, monkeypatch, capsys
):
    from tuning import importance, plot

    _, run_dir, _ = killed_and_resumed
    slices = run_dir.figure("slices")
    drawn = slices.read_bytes(), slices.stat().st_mtime_ns
    curves = run_dir.figure("val_accuracy")
    curves.unlink()

    def assess(*args, **kwargs):
        raise AssertionError("importance assessed again")

    monkeypatch.setattr(importance, "assess", assess)
    assert plot.main([str(run_dir.root), "--top", "3"]) == 0
    assert str(curves) in capsys.readouterr().out.splitlines()
    assert curves.is_file()
    assert (slices.read_bytes(), slices.stat().st_mtime_ns) == drawn


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["bayesian", "hyperband"])
def test_bayesian_and_hyperband_run_from_the_cli(mode, imdb_path, tmp_path):
    argv = ["--mode", mode, "--epochs", "3", *SEARCHED]
    argv += ["--max-trials", "3"] if mode == "bayesian" else []
    argv += ["--data", str(imdb_path), "--logdir", str(tmp_path), "-q"]
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


def _grid_search_oracle(settings, objective, open_after):
    """A toy mode's oracle: Keras Tuner's grid search over the space."""
    import keras_tuner as kt

    return kt.oracles.GridSearchOracle(
        objective, max_trials=settings.max_trials, seed=settings.seed
    )


TOY = Mode(
    "toy",
    "a grid search over the space's choices",
    frozenset({"max_trials", "space"}),
    _grid_search_oracle,
    sampling="Toy: the trials are the first points of a grid over {epochs} epochs.",
)


@pytest.fixture
def toy_mode(monkeypatch):
    """A search mode added as one `Mode`, nothing else."""
    monkeypatch.setitem(MODES, TOY.name, TOY)


@pytest.mark.slow
def test_a_search_mode_added_as_one_mode_runs_end_to_end(
    toy_mode, imdb_path, tmp_path, capsys
):
    space = tmp_path / "space.json"
    space.write_text(json.dumps({"units": [16, 32], "learning_rate": [0.001]}))
    argv = ["--mode", "toy", "--max-trials", "2", "--epochs", "1", "--limit", "96"]
    argv += ["--space", str(space), "--seed", "1", "--data", str(imdb_path)]
    status, _ = run_search(argv, tmp_path, capsys)
    assert status == 0
    run_dir = RunDir(tmp_path / "toy")
    assert json.loads(run_dir.study.read_text())["mode"] == "toy"
    results = read_csv(run_dir.results_csv)
    assert len(results) == 2
    assert {row["units"] for row in results} <= {"16", "32"}  # the space's choices
    assert {row["learning_rate"] for row in results} == {"0.001"}
    assert results[0]["trial_id"] != results[1]["trial_id"]
    assert all(row["status"] == "COMPLETED" for row in results)
    assert "toy: a grid search" in search.build_parser().format_help()


def test_a_new_mode_gets_the_checks_of_the_settings_it_uses(
    toy_mode, imdb_path, tmp_path, capsys
):
    argv = ["--mode", "toy", "--variants", "Baseline", "--data", str(imdb_path)]
    one_line_error(*run_search(argv, tmp_path, capsys), "it is for --mode grid")
    argv = ["--mode", "toy", "--repeats", "auto", "--data", str(imdb_path)]
    one_line_error(*run_search(argv, tmp_path, capsys), "--mode grid (--mode toy")


def test_importance_says_what_a_new_mode_s_sampling_means(toy_mode):
    from tuning.analysis import analyze
    from tuning.importance import assess
    from tuning.importance_outputs import what_matters

    search = search_of(learning_rate_alone, 20)
    settings = dataclasses.replace(search.settings, mode="toy")
    analysis = analyze([t.record for t in search.trials], settings)
    text = "\n".join(what_matters(analysis, assess(analysis, resamples=5)))
    assert "Toy: the trials are the first points of a grid over 10 epochs." in text
