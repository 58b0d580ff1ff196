import dataclasses

import pytest

from hypermodels import WIDE_SPACE
from tests.conftest import (
    collapsed_search,
    fabricated_trial,
    learning_rate_alone,
    search_of,
)
from tuning.analysis import analyze
from tuning.importance import assess, needed_trials, search_axes
from tuning.settings import StudySettings

RESAMPLES = 20


def noise(values, rng):
    return 0.85 + rng.normal(0, 0.01)


def test_one_hyperparameter_that_drives_the_objective_ranks_first_by_far():
    importance = assess(search_of(learning_rate_alone, 30), RESAMPLES)
    first, second = importance.shares[:2]
    assert first.name == "learning_rate"
    assert first.share > 0.6 and first.low > 5 * second.share
    assert importance.leader == first
    learning_rate = next(s for s in importance.slices if s.axis.name == "learning_rate")
    assert learning_rate.axis.log and learning_rate.correlation > 0.9


def test_noise_puts_no_hyperparameter_clearly_ahead():
    importance = assess(search_of(noise, 30), RESAMPLES)
    assert importance.shares and importance.leader is None
    assert all(s.low < 0.2 for s in importance.shares)


def test_a_trial_with_repeats_contributes_its_mean():
    analysis = search_of(learning_rate_alone, 12, repeats=3)
    importance = assess(analysis, 2)
    means = [t.summaries["objective"].mean for t in analysis.trials]
    units = next(s for s in importance.slices if s.axis.name == "units")
    assert units.means == means
    assert all(low < mean < high for low, mean, high in
               zip(units.lows, units.means, units.highs, strict=True))  # fmt: skip


def dropout_rate_alone(values, rng):
    return 0.85 - 0.2 * values.get("dropout", 0.3) + rng.normal(0, 0.002)


def test_a_conditional_rate_is_assessed_among_the_trials_that_have_it():
    analysis = search_of(dropout_rate_alone, 60, seed=2)
    importance = assess(analysis, RESAMPLES)
    having = sum(t.record.hyperparameters["dropout_on"] for t in analysis.trials)
    rate = next(s for s in importance.shares if s.name == "dropout")
    assert rate.condition == "dropout_on" and rate.trials == having
    assert rate.share > 0.5
    on = next(s for s in importance.shares if s.name == "dropout_on")
    assert on.condition is None and on.trials == 60
    dropout = next(s for s in importance.slices if s.axis.name == "dropout")
    assert len(dropout.values) == having and dropout.correlation < -0.9


def test_too_few_trials_are_not_assessed():
    importance = assess(search_of(learning_rate_alone, 12), RESAMPLES)
    assert importance.shares == [] and importance.needed == needed_trials(8) == 16
    assert importance.trials == 12 and len(importance.slices) == 10


def test_a_rate_with_too_few_trials_on_is_named():
    analysis = search_of(learning_rate_alone, 20, seed=3)
    importance = assess(analysis, 2)
    having = sum(t.record.hyperparameters["l2_on"] for t in analysis.trials)
    assert importance.too_few["l2"] == (having, 16)
    assert "l2" not in {s.name for s in importance.shares}


def test_a_grid_has_no_importance():
    analysis = analyze([fabricated_trial("Baseline", [0.8])], StudySettings(seed=1))
    assert assess(analysis) is None


@pytest.mark.parametrize(
    "space, names",
    [
        (WIDE_SPACE, ["hidden_layers", "units", "activation", "loss", "dropout_on",
                      "dropout", "l2_on", "l2", "learning_rate", "embedding_dim"]),
        ({**WIDE_SPACE, "dropout": {"off": True}, "loss": ["mse"],
          "l2": {"min": 1e-4, "max": 1e-2, "sampling": "log"}},
         ["hidden_layers", "units", "activation", "l2", "learning_rate",
          "embedding_dim"]),
    ],
)  # fmt: skip
def test_the_axes_are_what_the_space_lets_vary(space, names):
    axes = search_axes(space)
    assert [a.name for a in axes] == names
    conditions = {a.name: a.condition for a in axes if a.condition}
    assert conditions == ({"dropout": "dropout_on", "l2": "l2_on"}
                          if "dropout_on" in names else {})  # fmt: skip


def test_a_trial_far_from_the_others_is_named():
    importance = assess(collapsed_search(), 2)
    assert [(t.label, t.mean) for t in importance.far_out] == [
        ("trial 03", 0.5),
        ("trial 07", 0.5),
    ]
    common = importance.far_out_in_common()
    assert {"loss": "mse", "activation": "relu"}.items() <= common.items()
    values = [t.values for t in importance.far_out]
    assert all(v[k] == value for v in values for k, value in common.items())


def test_trials_that_all_scored_the_same_have_no_shares_and_no_crash():
    from tuning.importance_outputs import what_matters

    analysis = search_of(lambda values, rng: 0.5, 16)
    importance = assess(analysis, 2)
    assert importance.same_score == 0.5 and importance.shares == []
    (line,) = what_matters(analysis, importance)
    assert "Every one of the 16 completed trials scored the same" in line


def test_a_resample_of_equal_trials_does_not_stop_the_assessment():
    """15 trials at chance and one that learned: about a third of the
    resamples miss the one, and Optuna's forest refuses a set without
    variance."""
    analysis = search_of(lambda values, rng: 0.5, 16)
    trials = [t.record for t in analysis.trials]
    trials[0] = dataclasses.replace(
        fabricated_trial("t0", [0.9]), hyperparameters=trials[0].hyperparameters
    )
    importance = assess(analyze(trials, analysis.settings), 12)
    assert importance.same_score is None and len(importance.shares) >= 8
    assert all(0.0 <= s.low <= s.high <= 1.0 for s in importance.shares)
