"""The best model: the objective's best trial, run and epoch, written whole."""

import json
import shutil
import types

import keras
import pytest

from tests.conftest import fabricated_trial
from tuning import best_model
from tuning.analysis import analyze
from tuning.objective import Objective
from tuning.run_dir import RunDir
from tuning.settings import StudySettings


def fake_tuner(model):
    """Stands in for `StudyTuner` where only what `export_best_model` reads matters."""
    trial = types.SimpleNamespace(hyperparameters=types.SimpleNamespace(values={}))
    oracle = types.SimpleNamespace(get_trial=lambda trial_id: trial)
    return types.SimpleNamespace(oracle=oracle, load_model=lambda trial: model)


def small_model():
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    return model


@pytest.mark.parametrize(
    "objective, trial, repeat, epoch",
    [("val_accuracy", "B", 1, 2), ("val_loss", "B", 1, 3)],
)
def test_the_description_names_the_objectives_trial_run_and_epoch(
    objective, trial, repeat, epoch, tmp_path
):
    trials = [
        fabricated_trial("A", [0.70, 0.80, 0.75], shifts=[0.0, 0.0]),
        fabricated_trial("B", [0.70, 0.85, 0.80], shifts=[0.0, 0.01]),
    ]
    settings = StudySettings(seed=1, objective=Objective.named(objective))
    analysis = analyze(trials, settings)
    run_dir = RunDir(tmp_path)
    best_model.export_best_model(fake_tuner(small_model()), run_dir, analysis, {"w": 1})
    described = json.loads(run_dir.best_model.description.read_text())
    assert (described["label"], described["repeat"]) == (trial, repeat)
    assert described["epoch"] == epoch and described["objective"] == objective
    assert json.loads(run_dir.best_model.vocabulary.read_text()) == {"w": 1}
    assert type(keras.saving.load_model(run_dir.best_model.model)) is keras.Sequential


def test_without_a_completed_trial_nothing_is_written(tmp_path):
    analysis = analyze([fabricated_trial("A", [0.7], status="FAILED")], StudySettings())
    best_model.export_best_model(fake_tuner(None), RunDir(tmp_path), analysis, {})
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow
def test_an_export_cut_short_keeps_the_previous_best_model(
    grid_run, tmp_path, monkeypatch
):
    run_dir = RunDir(tmp_path / "copy")
    shutil.copytree(RunDir(grid_run[1]).best_model.root, run_dir.best_model.root)
    before = {p.name: p.read_bytes() for p in run_dir.best_model.root.iterdir()}
    model = keras.saving.load_model(run_dir.best_model.model)

    def killed(*args, **kwargs):
        raise KeyboardInterrupt  # the kill arrives while model.keras is written

    monkeypatch.setattr(keras.Model, "save", killed)
    analysis = analyze([fabricated_trial("A", [0.7])], StudySettings())
    with pytest.raises(KeyboardInterrupt):
        best_model.export_best_model(fake_tuner(model), run_dir, analysis, {"w": 1})
    after = {p.name: p.read_bytes() for p in run_dir.best_model.root.iterdir()}
    assert after == before
