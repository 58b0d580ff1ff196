import keras_tuner as kt
import pytest

from hypermodels import VARIANTS
from tests.conftest import proposed_trials
from tuning.oracles import VariantGridOracle

COMPLETED = kt.engine.trial.TrialStatus.COMPLETED
STOPPED = kt.engine.trial.TrialStatus.STOPPED


def make_oracle(tmp_path):
    oracle = VariantGridOracle(VARIANTS, objective="val_accuracy")
    oracle._set_project_dir(str(tmp_path), "grid")
    return oracle


def finish(oracle, trial, value=0.8):
    oracle.update_trial(trial.trial_id, {"val_accuracy": value})
    trial.status = COMPLETED
    oracle.end_trial(trial)


def test_proposes_every_variant_once_in_order_duplicates_included(tmp_path):
    oracle = make_oracle(tmp_path)
    names = []
    while (trial := oracle.create_trial("tuner0")).status != STOPPED:
        names.append(trial.hyperparameters.values["variant"])
        values = dict(trial.hyperparameters.values)
        assert (
            values.pop("variant")
            and values == VARIANTS[len(names) - 1].hyperparameters()
        )
        finish(oracle, trial)
    assert names == [v.name for v in VARIANTS]


def test_resumed_oracle_reruns_the_interrupted_trial_then_continues(tmp_path):
    oracle = make_oracle(tmp_path)
    for _ in range(4):
        finish(oracle, oracle.create_trial("tuner0"))
    interrupted = oracle.create_trial("tuner0")  # the process dies here

    resumed = make_oracle(tmp_path)
    resumed.reload()
    names = []
    while (trial := resumed.create_trial("tuner0")).status != STOPPED:
        names.append(trial.hyperparameters.values["variant"])
        finish(resumed, trial)
    assert names[0] == interrupted.hyperparameters.values["variant"] == "64 Units"
    assert names == [v.name for v in VARIANTS[4:]]
    finished = [t.hyperparameters.values["variant"] for t in resumed.trials.values()]
    assert sorted(finished) == sorted(v.name for v in VARIANTS)
    assert all(t.status == COMPLETED for t in resumed.trials.values())


def test_same_seed_same_trials_other_seed_other_trials(tmp_path):
    first = proposed_trials(tmp_path / "a", "random", seed=5, count=6)
    assert first == proposed_trials(tmp_path / "b", "random", seed=5, count=6)
    assert first != proposed_trials(tmp_path / "c", "random", seed=6, count=6)


def test_rates_of_layers_a_trial_lacks_are_not_recorded(tmp_path):
    trials = proposed_trials(tmp_path, "random", seed=3, count=30)
    for values in trials:
        assert ("dropout" in values) == values["dropout_on"]
        assert ("l2" in values) == values["l2_on"]
    assert {v["dropout_on"] for v in trials} == {True, False}
    assert {v["l2_on"] for v in trials} == {True, False}


@pytest.mark.parametrize("mode", ["grid", "random"])
def test_the_space_is_declared_without_building_a_model(tmp_path, mode, monkeypatch):
    from hypermodels import WIDE_SPACE, SentimentHyperModel
    from tuning.modes import make_oracle as oracle_for
    from tuning.run_dir import RunDir
    from tuning.settings import StudySettings
    from tuning.tuner import StudyTuner

    if mode == "grid":
        settings = StudySettings(mode=mode, variants=tuple(v.name for v in VARIANTS))
    else:
        settings = StudySettings(mode=mode, seed=1, space=WIDE_SPACE)

    def declared_space(name, builds):
        oracle = oracle_for(settings)
        hypermodel = SentimentHyperModel(settings.space, vocab_size=100)
        build = hypermodel.build
        hypermodel.build = lambda hp: builds.append(hp) or build(hp)
        StudyTuner(oracle, hypermodel, RunDir(tmp_path / name), settings)
        return [hp.get_config() for hp in oracle.get_space().space]

    builds = []
    declared = declared_space("declared", builds)
    assert builds == []
    # Keras Tuner's own discovery, which builds a model per conditional scope.
    monkeypatch.setattr(
        StudyTuner, "_populate_initial_space", kt.Tuner._populate_initial_space
    )
    discovered_builds = []
    assert declared == declared_space("discovered", discovered_builds)
    assert discovered_builds
