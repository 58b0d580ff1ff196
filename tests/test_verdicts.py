import warnings

import pytest

from tuning.objective import Objective
from tuning.verdicts import BETTER, UNDECIDED, compare

SPREAD = [0.50, 0.52, 0.48]


@pytest.mark.parametrize(
    "trial, reference, verdict",
    [
        ([0.5] * 3, [0.5] * 3, UNDECIDED),
        ([0.9] * 3, [0.5] * 3, BETTER),
        ([0.9] * 3, SPREAD, BETTER),
        ([0.5] * 3, SPREAD, UNDECIDED),
    ],
)
def test_repeats_that_all_scored_the_same_are_compared_without_warnings(
    trial, reference, verdict
):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a warning would reach the user's terminal
        comparison = compare(trial, reference, Objective.named("val_accuracy"))
    assert comparison.verdict == verdict
    assert comparison.difference == pytest.approx(sum(trial) / 3 - sum(reference) / 3)
