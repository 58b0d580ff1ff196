"""The verdicts: their rule, their planning, and their error rates shown by
simulation (a small run of benchmarks/bench_verdicts.py)."""

import importlib.util
import sys
import warnings

import pytest
from scipy import stats

from tests.conftest import REPO
from tuning.objective import Objective
from tuning.rounds import Schedule
from tuning.verdicts import (
    BETTER,
    EQUIVALENT,
    UNDECIDED,
    WORSE,
    compare,
    decide,
    repeats_needed,
)

ACCURACY = Objective.named("val_accuracy")
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
        comparison = compare(trial, reference, ACCURACY, margin=0.01)
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
    alpha = Schedule.fixed(5, 8).alpha
    needed = [
        compare(t, base, ACCURACY, 0.005, alpha).repeats_needed for t in (close, far)
    ]
    assert needed[0] == needed[1] is not None  # the same spread, the same plan
    # More runs are needed for a smaller margin, and fewer for a larger one.
    spread = 0.0016
    assert repeats_needed(0.0025, spread, alpha) > repeats_needed(0.005, spread, alpha)
    assert repeats_needed(0.01, spread, alpha) < repeats_needed(0.005, spread, alpha)


def test_the_schedule_splits_the_level_over_comparisons_and_looks():
    fixed, adaptive = Schedule.fixed(5, 8), Schedule.adaptive(12, 8)
    assert fixed.alpha == pytest.approx(0.05 / 8)
    assert adaptive.trial_runs == (3, 5, 8, 12)
    assert adaptive.reference_runs == (9, 15, 23, 34)  # about sqrt(8) times
    assert adaptive.alpha == pytest.approx(0.05 / (8 * 4))
    assert [adaptive.round_of(k) for k in (0, 2, 3, 11)] == [1, 1, 2, 4]
    assert adaptive.round_of(20, reference=True) == 3


def load_benchmark():
    path = REPO / "benchmarks" / "bench_verdicts.py"
    spec = importlib.util.spec_from_file_location("bench_verdicts", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # for its dataclasses
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("scenario", ["all nine equal", "mixed"])
@pytest.mark.parametrize("schedule", ["auto", "uniform 5"])
def test_false_verdicts_stay_under_their_bounds_in_simulated_studies(
    scenario, schedule
):
    """Seeded, so it cannot flake: 200 studies with noise twice the measured
    one (harder than the real grid), each family-wise rate's count under
    the 99.9% quantile of a binomial at the 5% bound."""
    bench = load_benchmark()
    import numpy as np

    rng = np.random.default_rng(1)
    margin, noise, studies = 0.005, 0.0034, 200
    differences = bench.scenarios(margin)[scenario]
    plan = Schedule.adaptive(12, 8) if schedule == "auto" else Schedule.fixed(5, 8)
    rates, right, total, runs = bench.run_scenario(
        differences,
        lambda d, rng: bench.normal_draw(d, noise, rng),
        plan,
        margin,
        studies,
        rng,
    )
    bound = stats.binom.ppf(0.999, studies, 0.05)
    assert rates["false better/worse"] <= bound
    assert rates["false equivalent"] <= bound
    assert right > 0  # it decides, rightly, under that noise too
