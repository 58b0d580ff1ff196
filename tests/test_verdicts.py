"""The verdicts: their rule, their intervals, their planning, and their
error rates shown by a small simulation of the study's own decisions."""

import math
import warnings

import numpy as np
import pytest
from scipy import stats

from tuning.analysis import judge, still_open
from tuning.objective import Objective
from tuning.rounds import Family, Schedule, first_look
from tuning.settings import StudySettings
from tuning.verdicts import (
    BETTER,
    EQUIVALENT,
    LARGEST_REPEATS_NEEDED,
    OWN,
    POOLED,
    POWER,
    UNDECIDED,
    WORSE,
    compare_all,
    decide,
    own_interval,
    paired_interval,
    repeats_needed,
    supports,
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


@pytest.mark.parametrize(
    "margin, spread, share",
    [(0.005, 0.002, 1.0), (0.002, 0.004, 2.8), (5e-4, 0.004, 1)],
)
def test_repeats_needed_is_the_fewest_runs_whose_power_reaches_the_goal(
    margin, spread, share
):
    def power(n):  # the noncentral t's, as SciPy's documentation gives it
        df = n + n * share - 2
        critical = stats.t.ppf(1 - 0.001 / 2, df)
        return stats.nct.sf(
            critical, df, margin / spread / np.sqrt(1 / n + 1 / (n * share))
        )

    goal = (1 + POWER) / 2
    needed = repeats_needed(margin, spread, 0.001, share)
    if needed is None:
        assert power(LARGEST_REPEATS_NEEDED) < goal
    else:
        assert power(needed) >= goal > power(needed - 1)


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
    paired = Schedule.adaptive(12, 8, paired=True)  # run k against run k
    assert paired.reference_runs == paired.trial_runs == (6, 9, 12)
    shares = [paired.alpha_at(look) for look in (1, 2, 3)]
    assert shares == [pytest.approx(0.05 / 3)] * 3  # an equal split
    assert paired.family(2).paired and paired.family(2).correlation == 0.5
    assert Schedule.adaptive(5, 8, paired=True).trial_runs == (3, 4, 5)


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


def test_a_pooled_verdict_stands_where_the_own_interval_bears_it_out_too():
    """The own interval lies within the margin and past 0: it bears out the
    pooled interval's *better* as well as equivalence (the real grid's L2
    Regularization, +0.0027 over 12 runs, was left undecided for this)."""
    rng = np.random.default_rng(5)
    seeds = rng.normal(0, 0.003, 12)
    groups = {n: 0.88 + seeds + rng.normal(0, 0.0025, 12) for n in "r0123456"}
    groups["tight"] = groups["r"] + 0.003 + rng.normal(0, 0.0004, 12)
    family = Family(8, 0.05 / 3, 0.5, paired=True)
    found = compare_all(groups, {"tight": ("tight", "r")}, ACCURACY, 0.005, family)
    own = paired_interval(groups["tight"], groups["r"], family.alpha)
    assert 0 < own[0] < own[1] < 0.005  # equivalent, and better
    tight = found["tight"]
    assert tight.interval == POOLED and 0 < tight.ci_low and tight.ci_high > 0.005
    assert tight.verdict == BETTER


def test_an_interval_bears_out_each_verdict_it_lies_on_the_side_of():
    loss = Objective.named("val_loss")
    assert supports(0.001, 0.004, EQUIVALENT, 0.005, ACCURACY)
    assert supports(0.001, 0.004, BETTER, 0.005, ACCURACY)
    assert supports(0.001, 0.004, WORSE, 0.005, loss)  # a higher loss
    assert not supports(0.001, 0.006, EQUIVALENT, 0.005, ACCURACY)
    assert not supports(-0.001, 0.004, BETTER, 0.005, ACCURACY)
    assert not supports(math.nan, math.nan, EQUIVALENT, 0.005, ACCURACY)
    assert decide(0.001, 0.004, 0.005, ACCURACY) == EQUIVALENT  # equivalence first


PAIRED = Family(4, 0.05, 0.5, paired=True)


def paired_groups(rng, own_sds, runs=8):
    """A reference and trials whose run k shares seed k's effect."""
    seeds = rng.normal(0, 0.003, runs)
    return {
        name: 0.88 + seeds + rng.normal(0, sd, runs)
        for name, sd in zip(["r", "0", "1", "2", "3"], own_sds, strict=True)
    }


def test_runs_paired_by_seed_share_what_the_trials_and_seeds_leave():
    """Dunnett's interval on the two-way layout's residual variance (trials
    by seeds, from NumPy here) with SciPy's multivariate t at correlation
    1/2: the seeds' shared effect, three times the rest, cancels."""
    rng = np.random.default_rng(7)
    groups = paired_groups(rng, [0.001] * 5)
    pairs = {name: (name, "r") for name in "0123"}
    found = compare_all(groups, pairs, ACCURACY, 0.005, PAIRED)
    table = np.array(list(groups.values()))
    left = (
        table - table.mean(1, keepdims=True) - table.mean(0, keepdims=True)
        + table.mean()
    )  # fmt: skip
    df = 4 * 7
    error = np.sqrt((left**2).sum() / df * 2 / 8)
    shape = np.full((4, 4), 0.5) + np.eye(4) * 0.5
    statistics = stats.multivariate_t(shape=shape, df=df, seed=1)
    for name, comparison in found.items():
        assert comparison.interval == POOLED and comparison.verdict == EQUIVALENT
        half = (comparison.ci_high - comparison.ci_low) / 2
        assert comparison.difference == pytest.approx(
            (groups[name] - groups["r"]).mean()
        )
        c = np.full(4, half / error)
        assert statistics.cdf(c, lower_limit=-c) == pytest.approx(0.95, abs=2e-3)
    unpaired = compare_all(groups, pairs, ACCURACY, 0.005, Family(4, 0.05, 0.5))
    assert all(
        unpaired[n].ci_high - unpaired[n].ci_low
        > 2 * (found[n].ci_high - found[n].ci_low)
        for n in pairs
    )


def test_a_paired_comparison_that_spreads_more_gets_its_own_paired_t_interval():
    rng = np.random.default_rng(8)
    groups = paired_groups(rng, [0.001, 0.001, 0.006, 0.001, 0.001])
    pairs = {name: (name, "r") for name in "0123"}
    found = compare_all(groups, pairs, ACCURACY, 0.005, PAIRED)
    loud = found["1"]
    assert loud.interval == OWN and "F test" in loud.why
    expected = stats.ttest_rel(groups["1"], groups["r"]).confidence_interval(0.9875)
    assert (loud.ci_low, loud.ci_high) == pytest.approx((expected.low, expected.high))
    assert all(found[n].interval == POOLED for n in "023")


def test_the_same_configuration_from_the_same_seeds_is_equivalent():
    rng = np.random.default_rng(9)
    groups = paired_groups(rng, [0.001] * 5)
    groups["0"] = groups["r"].copy()  # 64 Units is Baseline's configuration
    comparison = compare(groups["0"], groups["r"], ACCURACY, 0.005, PAIRED)
    assert comparison.verdict == EQUIVALENT and comparison.ci_low == 0.0
    assert "alike for every seed" in comparison.why
    assert paired_interval(groups["0"] + 0.001, groups["r"], 0.05) == (
        pytest.approx(0.001),
        pytest.approx(0.001),
    )


@pytest.mark.parametrize(
    "repeats, common_seeds", [("auto", True), ("auto", False), (5, True)]
)
def test_false_verdicts_stay_under_their_bounds_in_simulated_studies(
    repeats, common_seeds
):
    """Seeded, so it cannot flake: 150 studies of nine equal trials with
    noise twice the measured one, half of its variance given by the run's
    seed (shared by every trial's run of that seed with common seeds),
    decided by the analysis' own `judge` and the rounds' `still_open`; each
    false verdict's count under the 99.9% quantile of a binomial at the 5%
    bound."""
    settings = StudySettings(
        variants=tuple("ABCDEFGHI"), reference="A", margin=0.005,
        repeats=first_look(12, common_seeds) if repeats == "auto" else repeats,
        max_repeats=12 if repeats == "auto" else None, common_seeds=common_seeds,
    )  # fmt: skip
    schedule, rng, studies = settings.schedule(), np.random.default_rng(1), 150
    part = 0.0034 / np.sqrt(2)  # the seed's and the run's own, each
    false, decided = 0, 0
    for _ in range(studies):
        values = {label: [] for label in settings.variants}
        shared = rng.normal(0, part, schedule.reference_runs[-1])
        for look in range(1, schedule.looks + 1):
            for label in values:
                sizes = schedule.reference_runs if label == "A" else schedule.trial_runs
                runs = np.arange(len(values[label]), sizes[look - 1])
                seeds = shared[runs] if common_seeds else rng.normal(0, part, len(runs))
                own = rng.normal(0.88, part, len(runs))
                values[label] += list(seeds + own)
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
