"""How sure a study is of its numbers: intervals over runs, and verdicts.

Every formula comes from `scipy.stats`: Student-t intervals of a trial's
mean, Welch intervals and tests of a difference, and P(A>B) from the
Mann-Whitney U statistic. A comparison is "better" (or "worse") only when
Welch's test rejects equal means at `ALPHA / m` over the study's m
comparisons (Bonferroni). docs/statistics.md gives the method, why these
choices and their sources.
"""

from __future__ import annotations

import dataclasses
import math
import warnings

import numpy as np

from tuning.objective import Objective

CONFIDENCE = 0.95
ALPHA = 1 - CONFIDENCE
# The power at which `repeats_needed` resolves a difference.
POWER = 0.8
LARGEST_REPEATS_NEEDED = 1000

BETTER, WORSE, UNDECIDED = "better", "worse", "not distinguishable"
NO_VERDICT = "no verdict (1 repeat)"


@dataclasses.dataclass(frozen=True)
class Summary:
    """A metric over a trial's repeats.

    Attributes:
        n: repeats.
        mean: their mean.
        std: their standard deviation (n - 1 in the denominator); NaN for n = 1.
        ci_low, ci_high: the 95% Student-t interval of the mean; NaN for n = 1.
    """

    n: int
    mean: float
    std: float
    ci_low: float
    ci_high: float


@dataclasses.dataclass(frozen=True)
class Comparison:
    """A trial against the reference, on one metric over their repeats.

    Attributes:
        difference: the trial's mean minus the reference's.
        ci_low, ci_high: the 95% Welch interval of `difference`.
        p_beats: P(A>B), the chance that one run of the trial beats one run
            of the reference (higher is better unless the metric is a loss);
            NaN, like the interval and p-value, with one run on a side.
        p_value: Welch's two-sided p-value for equal means.
        verdict: `BETTER`, `WORSE`, `UNDECIDED` or `NO_VERDICT`.
        repeats_needed: for an undecided comparison, repeats per trial at
            which a difference of this size would be found with probability
            `POWER` under the same rule; `None` otherwise, or when more than
            `LARGEST_REPEATS_NEEDED` (or a zero difference) would be needed.
    """

    difference: float
    ci_low: float
    ci_high: float
    p_beats: float
    p_value: float
    verdict: str
    repeats_needed: int | None


def summarize(values) -> Summary:
    """The mean of `values` with its standard deviation and 95% t interval."""
    values = np.asarray(values, dtype=float)
    n, mean = len(values), float(np.mean(values))
    if n < 2:
        return Summary(n, mean, math.nan, math.nan, math.nan)
    std = float(np.std(values, ddof=1))
    if std == 0:
        return Summary(n, mean, 0.0, mean, mean)
    from scipy import stats  # 0.8 s to import: only where a study needs it

    low, high = stats.t.interval(CONFIDENCE, n - 1, loc=mean, scale=stats.sem(values))
    return Summary(n, mean, std, float(low), float(high))


def compare(trial, reference, objective: Objective, comparisons: int = 1) -> Comparison:
    """Compares a trial's runs with the reference's (see the module's rule).

    Args:
        trial: the trial's values of `objective`, one per run.
        reference: the reference trial's values.
        objective: which direction is better.
        comparisons: how many comparisons the study makes at once (m).
            Defaults to 1.
    """
    from scipy import stats

    a, b = np.asarray(trial, dtype=float), np.asarray(reference, dtype=float)
    difference = float(a.mean() - b.mean())
    u = stats.mannwhitneyu(a, b).statistic
    p_higher = float(u / (len(a) * len(b)))
    p_beats = p_higher if objective.higher_is_better else 1 - p_higher
    if min(len(a), len(b)) < 2:
        # One run against one run says nothing of how often one beats the
        # other: nothing here can be estimated but the difference.
        return Comparison(
            difference, math.nan, math.nan, math.nan, math.nan, NO_VERDICT, None
        )
    with warnings.catch_warnings():
        # Repeats that all scored the same (small data, or a run stuck at one
        # accuracy) have no spread, and SciPy warns that their moments lost
        # precision. Welch's test holds while one sample varies; with neither
        # its p-value is NaN (or 0 for different means), handled below.
        warnings.filterwarnings("ignore", "Precision loss", RuntimeWarning)
        welch = stats.ttest_ind(a, b, equal_var=False)
    low, high = welch.confidence_interval(CONFIDENCE)
    p_value = float(welch.pvalue)
    alpha = ALPHA / comparisons
    if p_value < alpha:  # NaN (two constant samples) compares False: undecided
        verdict = BETTER if objective.gain(difference) > 0 else WORSE
        needed = None
    else:
        verdict = UNDECIDED
        spread = math.sqrt((a.var(ddof=1) + b.var(ddof=1)) / 2)
        needed = repeats_needed(abs(difference), spread, alpha)
    return Comparison(
        difference, float(low), float(high), p_beats, p_value, verdict, needed
    )


def repeats_needed(difference: float, std: float, alpha: float) -> int | None:
    """Repeats per trial for a two-sided t-test at level `alpha` to find
    `difference` between two trials of spread `std` with probability `POWER`.

    From the noncentral t distribution; `None` when the difference is 0 or
    more than `LARGEST_REPEATS_NEEDED` repeats would be needed.
    """
    from scipy import stats

    if difference == 0 or not math.isfinite(difference) or not std > 0:
        return None
    for n in range(2, LARGEST_REPEATS_NEEDED + 1):
        df = 2 * n - 2
        critical = stats.t.ppf(1 - alpha / 2, df)
        shift = difference / (std * math.sqrt(2 / n))
        power = stats.nct.sf(critical, df, shift) + stats.nct.cdf(-critical, df, shift)
        if power >= POWER:
            return n
    return None
