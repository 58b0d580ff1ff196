"""The verdicts: their rule, their intervals, their planning, and their
error rates shown by a small simulation of the study's own decisions."""

import warnings

import numpy as np
import pytest
from scipy import stats

from tuning.analysis import judge, still_open
from tuning.objective import Objective
from tuning.rounds import FIRST_RUNS, Family, Schedule
from tuning.settings import StudySettings
from tuning.verdicts import (
    BETTER,
    EQUIVALENT,
    OWN,
    POOLED,
    UNDECIDED,
    WORSE,
    compare_all,
    decide,
    own_interval,
    repeats_needed,
    why_undecided,
)

ACCURACY = Objective.named("val_accuracy")
ONE = Family(1, 0.05, 0.5)


def compare(trial, reference, objective, margin, family):
    """One comparison, its two groups the whole pool."""
    groups = {"trial": trial, "reference": reference}
    pairs = {"trial": ("trial", "reference")}
    return compare_all(groups, pairs, objective, margin, family)["trial"]


SPREAD = [0.50, 0.52, 0.48]


@pytest.mark.parametrize(
    "trial, reference, verdict",
    [
        ([0.5] * 3, [0.5] * 3, UNDECIDED),
        ([0.9] * 3, SPREAD, BETTER),
        ([0.5] * 3, SPREAD, UNDECIDED),
    ],
)
def test_runs_that_all_scored_the_same_are_compared_without_warnings(
    trial, reference, verdict
):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a warning would reach the user's terminal
        comparison = compare(trial, reference, ACCURACY, 0.01, ONE)
    assert comparison.verdict == verdict
    assert comparison.difference == pytest.approx(sum(trial) / 3 - sum(reference) / 3)


@pytest.mark.parametrize(
    "low, high, verdict",
    [
        (-0.004, 0.004, EQUIVALENT),  # inside plus or minus the margin
        (0.001, 0.004, EQUIVALENT),  # a real difference, smaller than matters
        (0.002, 0.02, BETTER),
        (-0.02, -0.002, WORSE),
        (-0.002, 0.02, UNDECIDED),
        (-0.02, 0.004, UNDECIDED),
    ],
)
def test_the_verdict_follows_the_interval_and_the_margin(low, high, verdict):
    assert decide(low, high, 0.005, ACCURACY) == verdict
    flipped = {BETTER: WORSE, WORSE: BETTER}.get(verdict, verdict)
    assert decide(low, high, 0.005, Objective.named("val_loss")) == flipped


def test_repeats_needed_is_planned_on_the_margin_not_the_observed_difference():
    base = [0.880, 0.882, 0.878, 0.881, 0.879]
    close = [v + 0.0001 for v in reversed(base)]
    far = [v + 0.002 for v in reversed(base)]
    family = Schedule.fixed(5, 8).family(1)
    alpha = family.alpha / family.comparisons
    needed = [
        compare(t, base, ACCURACY, 0.002, family).repeats_needed for t in (close, far)
    ]
    assert needed[0] == needed[1] is not None  # the same spread, the same plan
    # More runs are needed for a smaller margin, and fewer for a larger one.
    spread = 0.0016
    assert repeats_needed(0.0025, spread, alpha) > repeats_needed(0.005, spread, alpha)
    assert repeats_needed(0.01, spread, alpha) < repeats_needed(0.005, spread, alpha)


def test_the_schedule_spends_the_level_over_its_looks():
    fixed, adaptive = Schedule.fixed(5, 8), Schedule.adaptive(12, 8)
    assert fixed.family(1).alpha == pytest.approx(0.05)
    assert fixed.family(1).correlation == pytest.approx(0.5)
    assert adaptive.trial_runs == (4, 6, 9, 12)
    assert adaptive.reference_runs == (12, 17, 26, 34)  # about sqrt(8) times
    spent = [adaptive.alpha_at(look) for look in range(1, 5)]
    assert sum(spent) == pytest.approx(0.05)
    assert spent[0] > 0.05 / 4 and min(spent) > 0  # Pocock-type: more early
    assert [adaptive.round_of(k) for k in (0, 3, 4, 11)] == [1, 1, 2, 4]
    assert adaptive.round_of(20, reference=True) == 3


def test_the_pooled_interval_is_dunnetts_as_scipy_computes_it():
    """With every trial's spread alike, the pooled interval is Dunnett's
    simultaneous interval over the same runs (`scipy.stats.dunnett`)."""
    rng = np.random.default_rng(4)
    reference = rng.normal(0.88, 0.002, 6)
    trials = [rng.normal(0.88 + shift, 0.002, 6) for shift in (0.0, 0.003, -0.004)]
    groups = {"r": reference, **{str(i): t for i, t in enumerate(trials)}}
    pairs = {str(i): (str(i), "r") for i in range(3)}
    found = compare_all(groups, pairs, ACCURACY, 0.005, Family(3, 0.05, 0.5))
    expected = stats.dunnett(*trials, control=reference, rng=0).confidence_interval()
    for i, comparison in enumerate(found.values()):
        assert comparison.interval == POOLED
        half = (comparison.ci_high - comparison.ci_low) / 2
        assert half == pytest.approx((expected.high[i] - expected.low[i]) / 2, rel=2e-3)
        assert comparison.ci_low + half == pytest.approx(
            trials[i].mean() - reference.mean()
        )


def test_a_trial_whose_spread_differs_gets_its_own_interval():
    rng = np.random.default_rng(4)
    groups = {str(i): rng.normal(0.88, 0.001, 8) for i in range(6)}
    groups["wild"] = rng.normal(0.88, 0.02, 8)
    pairs = {name: (name, "0") for name in ("1", "wild")}
    found = compare_all(groups, pairs, ACCURACY, 0.005, Family(6, 0.05, 0.5))
    assert found["1"].interval == POOLED and found["1"].why == ""
    assert found["wild"].interval == OWN and "F test p = " in found["wild"].why
    low, high = own_interval(groups["wild"], groups["0"], 0.05 / 6, hsu=True)
    assert (found["wild"].ci_low, found["wild"].ci_high) == (low, high)
    why = why_undecided(found["wild"], 0.005, 8)
    assert (
        why.startswith("its runs spread ") and f"so its own interval [{low:+.4f}" in why
    )


def test_a_pooled_verdict_needs_the_trials_own_interval_to_agree():
    """Three runs are too few for the F test to set a spread 1.4 times the
    others' apart; the pooled interval lies within the margin, the trial's
    own interval does not."""
    rng = np.random.default_rng(5)
    groups = {str(i): rng.normal(0.88, 0.001, 8) for i in range(8)}
    groups["lucky"] = np.array([-0.0014, 0, 0.0014]) + groups["0"].mean() + 0.0025
    found = compare_all(groups, {"lucky": ("lucky", "0")}, ACCURACY, 0.005,
                        Family(8, 0.05, 0.25))  # fmt: skip
    alone = own_interval(groups["lucky"], groups["0"], 0.05)
    assert decide(*alone, 0.005, ACCURACY) == UNDECIDED
    lucky = found["lucky"]
    assert lucky.interval == POOLED and -0.005 < lucky.ci_low < lucky.ci_high < 0.005
    assert lucky.verdict == UNDECIDED and "own Welch interval" in lucky.why


@pytest.mark.parametrize("repeats", ["auto", 5])
def test_false_verdicts_stay_under_their_bounds_in_simulated_studies(repeats):
    """Seeded, so it cannot flake: 150 studies of nine equal trials with
    noise twice the measured one, decided by the analysis' own `judge` and
    the rounds' `still_open`; each false verdict's count under the 99.9%
    quantile of a binomial at the 5% bound."""
    settings = StudySettings(
        variants=tuple("ABCDEFGHI"), reference="A", margin=0.005,
        repeats=FIRST_RUNS if repeats == "auto" else repeats,
        max_repeats=12 if repeats == "auto" else None,
    )  # fmt: skip
    schedule, rng, studies = settings.schedule(), np.random.default_rng(1), 150
    false, decided = 0, 0
    for _ in range(studies):
        values = {label: [] for label in settings.variants}
        for look in range(1, schedule.looks + 1):
            for label in values:
                sizes = schedule.reference_runs if label == "A" else schedule.trial_runs
                more = sizes[look - 1] - len(values[label])
                values[label] += list(rng.normal(0.88, 0.0034, max(more, 0)))
            judged = judge(values, "A", settings, schedule)
            if not still_open(judged, look, schedule):
                break
        found = [comparison.verdict for comparison, _ in judged.values()]
        false += any(v in (BETTER, WORSE) for v in found)
        decided += found.count(EQUIVALENT)
    assert false <= stats.binom.ppf(0.999, studies, 0.05)
    assert decided > 0  # it decides, rightly, under that noise too


def test_an_interval_stays_within_the_values_its_metric_can_take():
    from tuning.verdicts import summarize

    accuracy = summarize([0.99, 0.9999], (0.0, 1.0))
    assert accuracy.ci_high == 1.0 and 0.0 < accuracy.ci_low < 0.99
    assert summarize([0.99, 0.9999]).ci_high > 1.0  # the t interval alone
