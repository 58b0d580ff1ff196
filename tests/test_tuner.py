"""The tuner: runs and their seeds, the shared checkpoint, resume of finished
runs, failed trials, Hyperband's continuation, early stopping."""

import json

import keras_tuner as kt
import numpy as np
import pytest

from hypermodels import WIDE_SPACE, SentimentHyperModel
from tests.conftest import grid_argv, read_csv, run_with_fault
from tuning import search
from tuning.modes import make_oracle
from tuning.objective import Objective
from tuning.records import load_trials
from tuning.run_dir import RunDir
from tuning.settings import NUM_WORDS, StudySettings
from tuning.tuner import StudyTuner, _continue_from


def histories(run_dir, label):
    """Per run, its (loss, val_accuracy) per epoch, from histories.csv."""
    by_repeat = {}
    for row in read_csv(run_dir / "histories.csv"):
        if row["label"] == label:
            by_repeat.setdefault(row["repeat"], []).append(
                (row["loss"], row["val_accuracy"])
            )
    return by_repeat


@pytest.mark.slow
def test_run_k_of_every_trial_shares_its_recorded_seed_and_has_its_tensorboard_run(
    noise_pair,
):
    runs = read_csv(noise_pair / "runs.csv")
    assert [(r["label"], r["repeat"]) for r in runs] == [
        (label, str(k)) for label in ("Baseline", "32 Units") for k in range(3)
    ]
    seeds = {(r["label"], r["repeat"]): r["seed"] for r in runs}
    assert len(set(seeds.values())) == 3
    assert all(seeds["Baseline", k] == seeds["32 Units", k] for k in "012")
    baseline = histories(noise_pair, "Baseline")
    assert baseline["0"] != baseline["1"]  # other seeds, other runs
    assert histories(noise_pair, "32 Units")["0"] != baseline["0"]  # other models
    for label in ("Baseline", "32 Units"):
        board = sorted(p.name for p in (noise_pair / "tensorboard" / label).iterdir())
        assert board == ["repeat_0", "repeat_1", "repeat_2"]


@pytest.mark.slow
def test_the_same_seed_reproduces_a_run_and_another_seed_does_not(
    noise_pair, imdb_path, tmp_path
):
    # Baseline is the first trial in both studies, so its seeds are the same.
    same = grid_argv(imdb_path, tmp_path / "same", "Baseline", repeats=2, seed=5)
    other = grid_argv(imdb_path, tmp_path / "other", "Baseline", repeats=1, seed=6)
    assert search.main(same) == 0 and search.main(other) == 0
    first = histories(noise_pair, "Baseline")
    again = histories(tmp_path / "same" / "grid", "Baseline")
    assert again == {"0": first["0"], "1": first["1"]}
    assert histories(tmp_path / "other" / "grid", "Baseline")["0"] != first["0"]


@pytest.mark.slow
def test_a_study_killed_between_runs_keeps_the_finished_ones(imdb_path, tmp_path):
    argv = grid_argv(imdb_path, tmp_path, "Baseline", repeats=3, seed=2, epochs=3)
    killed = run_with_fault(["kill-after-run", "1"], "tuning.search", argv)
    assert killed.returncode == -9, killed.stderr[-2000:]
    run_dir = RunDir(tmp_path / "grid")
    kept = {
        path: path.stat().st_mtime_ns
        for k in (0, 1)
        for path in (run_dir.history_csv("0", k), run_dir.run_record("0", k))
    }
    assert not run_dir.run_record("0", 2).exists()
    assert search.main(argv) == 0
    assert {path: path.stat().st_mtime_ns for path in kept} == kept
    runs = read_csv(run_dir.runs_csv)
    assert [r["repeat"] for r in runs] == ["0", "1", "2"]
    assert all(r["epochs"] == "3" for r in runs)
    seeds = [json.loads(run_dir.run_record("0", k).read_text()) for k in (0, 1)]
    assert [s["seed"] for s in seeds] == [int(r["seed"]) for r in runs[:2]]


@pytest.mark.slow
# Keras Tuner's `load_model` builds no optimizer: its saved state is skipped.
@pytest.mark.filterwarnings("ignore:Skipping variable loading")
def test_the_checkpoint_keeps_the_best_epoch_over_all_runs(imdb_path, tmp_path):
    from tuning.data import load_imdb

    settings = StudySettings(variants=("Baseline",), repeats=3, seed=1)
    run_dir = RunDir(tmp_path)
    hypermodel = SentimentHyperModel(vocab_size=NUM_WORDS)
    tuner = StudyTuner(make_oracle(settings), hypermodel, run_dir, settings)
    data = load_imdb(imdb_path).head(400)
    validation = (data.x_test, data.y_test)
    tuner.search(
        data.x_train, data.y_train, validation_data=validation, epochs=3, verbose=0
    )
    (record,) = load_trials(run_dir, settings)
    bests = [max(run.history["val_accuracy"]) for run in record.runs]
    assert max(bests) > bests[-1]  # so a checkpoint per run would keep the last's
    (trial,) = tuner.oracle.trials.values()
    assert tuner._get_checkpoint_fname(trial.trial_id) == str(
        run_dir.checkpoint(trial.trial_id)
    )
    model = tuner.load_model(trial)
    _, accuracy = model.evaluate(*validation, batch_size=400, verbose=0)
    assert accuracy == pytest.approx(max(bests), abs=1e-6)


def test_nan_trials_are_recorded_as_failed_and_the_search_goes_on(
    tmp_path, nan_hypermodel
):
    settings = StudySettings(mode="random", max_trials=2, seed=1)
    oracle = make_oracle(settings)
    tuner = StudyTuner(
        oracle,
        nan_hypermodel(WIDE_SPACE, vocab_size=100),
        RunDir(tmp_path / "nan"),
        settings,
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
    hp = kt.HyperParameters()
    x = np.random.RandomState(0).randint(0, 100, size=(64, 16))
    y = np.arange(64) % 2
    trained = SentimentHyperModel(vocab_size=100).build(hp)
    trained.fit(x, y, epochs=2, batch_size=32, verbose=0)
    checkpoint = str(tmp_path / "checkpoint.weights.h5")
    trained.save_weights(checkpoint)
    continued = SentimentHyperModel(vocab_size=100).build(hp)
    _continue_from(continued, checkpoint)
    assert int(continued.optimizer.iterations) == 4
    for ours, theirs in zip(
        continued.optimizer.variables, trained.optimizer.variables, strict=True
    ):
        np.testing.assert_array_equal(np.asarray(ours), np.asarray(theirs))
    for ours, theirs in zip(continued.weights, trained.weights, strict=True):
        np.testing.assert_array_equal(np.asarray(ours), np.asarray(theirs))


@pytest.mark.slow
def test_early_stopping_on_val_loss_stops_when_patience_runs_out(imdb_path, tmp_path):
    argv = ["--variants", "Baseline", "--epochs", "6", "--limit", "500"]
    argv += ["--objective", "val_loss", "--early-stopping", "1", "--seed", "4"]
    argv += ["--data", str(imdb_path), "--logdir", str(tmp_path), "-q"]
    assert search.main(argv) == 0
    run_dir = RunDir(tmp_path / "grid")
    val_loss = [float(r["val_loss"]) for r in read_csv(run_dir.histories_csv)]
    best = val_loss.index(min(val_loss))
    # Patience 1: training ends one epoch after the best, or at the last epoch.
    assert len(val_loss) == min(best + 2, 6)
    assert all(val_loss[e + 1] < min(val_loss[: e + 1]) for e in range(best))
    (result,) = read_csv(run_dir.results_csv)
    assert float(result["objective_mean"]) == pytest.approx(min(val_loss))
    chosen = json.loads(run_dir.best_model.description.read_text())
    assert Objective(chosen["objective"], chosen["direction"]) == Objective.named(
        "val_loss"
    )
    assert chosen["score"] == pytest.approx(min(val_loss))


def test_a_trial_saved_as_ended_and_still_running_is_not_trained_again(tmp_path):
    """Keras Tuner saves `oracle.json` in `end_trial` before it takes the
    trial off its running ones: a process killed there left both."""
    settings = StudySettings(mode="random", max_trials=3, seed=1, space=WIDE_SPACE)
    hypermodel = SentimentHyperModel(WIDE_SPACE, vocab_size=100)
    tuner = StudyTuner(make_oracle(settings), hypermodel, RunDir(tmp_path), settings)
    trial = tuner.oracle.create_trial("tuner0")
    tuner.oracle.update_trial(trial.trial_id, {"val_accuracy": 0.8})
    trial.status = "COMPLETED"
    tuner.oracle.end_trial(trial)
    tuner.save()  # as Keras Tuner does after every trial
    saved = json.loads(RunDir(tmp_path).oracle.read_text())
    saved["ongoing_trials"] = {"tuner0": trial.trial_id}  # as the kill left it
    RunDir(tmp_path).oracle.write_text(json.dumps(saved))

    reloaded = StudyTuner(make_oracle(settings), hypermodel, RunDir(tmp_path), settings)
    assert reloaded.oracle.create_trial("tuner0").trial_id != trial.trial_id
