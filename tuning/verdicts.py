"""How sure a study is of its numbers: intervals over runs, and verdicts.

Every distribution comes from `scipy.stats`. A trial's mean has a
Student-t interval. A difference from the reference has a Welch interval
at a simultaneous level: 1 - alpha, alpha being 5% split over every
comparison and every look the study makes (Bonferroni), so that all the
study's intervals hold together with probability 95% or more. Its verdict
follows from the interval and the margin D, the smallest difference that
matters: *equivalent* inside (-D, D), else *better* or *worse* when it
excludes 0, else *undecided*. Each kind of false verdict, over the whole
study, thus has a chance of 5% at most. docs/statistics.md gives the
method, its assumptions, its sources and the simulations that check it.
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

BETTER, WORSE, EQUIVALENT, UNDECIDED = "better", "worse", "equivalent", "undecided"
NO_VERDICT = "no verdict (1 run)"
# The verdicts that end a comparison.
DECIDED = (BETTER, WORSE, EQUIVALENT)
# The rule, as every report states it.
RULE = (
    "*Equivalent* when the interval lies within plus or minus D, *better* or "
    "*worse* when it excludes 0, else *undecided*."
)
# Every verdict, in the order outputs list them.
ALL = (*DECIDED, UNDECIDED, NO_VERDICT)
# The verdict as a number a table can sort (TensorBoard's HParams): better
# 1, equivalent 0, worse -1; undecided and no verdict have none.
CODES = {BETTER: 1.0, EQUIVALENT: 0.0, WORSE: -1.0}


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
    """A trial against the reference, on the objective over their runs.

    Attributes:
        difference: the trial's mean minus the reference's.
        ci_low, ci_high: the simultaneous Welch interval of `difference`
            (level 1 - `alpha` of `compare`).
        p_beats: P(A>B), the chance that one run of the trial beats one run
            of the reference (higher is better unless the metric is a loss);
            NaN, like the interval and p-value, with one run on a side.
        p_value: Welch's two-sided p-value for equal means.
        verdict: `BETTER`, `WORSE`, `EQUIVALENT`, `UNDECIDED` or `NO_VERDICT`.
        repeats_needed: for an undecided comparison, runs per trial that
            would decide it with probability `POWER` (see `repeats_needed`);
            `None` otherwise, or past `LARGEST_REPEATS_NEEDED`.
    """

    difference: float
    ci_low: float
    ci_high: float
    p_beats: float
    p_value: float
    verdict: str
    repeats_needed: int | None


def runs_needed_cell(comparison: Comparison) -> str:
    """How many runs per trial would decide `comparison`, as every table
    shows it: blank unless undecided, else the number or `> 1000`."""
    if comparison.verdict != UNDECIDED:
        return ""
    if comparison.repeats_needed is None:
        return f"> {LARGEST_REPEATS_NEEDED}"
    return str(comparison.repeats_needed)


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


def compare(
    trial,
    reference,
    objective: Objective,
    margin: float,
    alpha: float = ALPHA,
    reference_share: float = 1.0,
) -> Comparison:
    """Compares a trial's runs with the reference's (see the module's rule).

    Args:
        trial: the trial's values of `objective`, one per run.
        reference: the reference trial's values.
        objective: which direction is better.
        margin: D, the smallest difference that matters (> 0).
        alpha: the level of this comparison's interval: the study's 5%
            divided by its comparisons and looks. Defaults to 5%.
        reference_share: the reference's runs per run of a trial, for
            `repeats_needed`. Defaults to 1.
    """
    from scipy import stats

    a, b = np.asarray(trial, dtype=float), np.asarray(reference, dtype=float)
    difference = float(a.mean() - b.mean())
    if min(len(a), len(b)) < 2:
        # One run against one run says nothing of how often one beats the
        # other: nothing here can be estimated but the difference.
        return Comparison(
            difference, math.nan, math.nan, math.nan, math.nan, NO_VERDICT, None
        )
    u = stats.mannwhitneyu(a, b).statistic
    p_higher = float(u / (len(a) * len(b)))
    p_beats = p_higher if objective.higher_is_better else 1 - p_higher
    with warnings.catch_warnings():
        # Runs that all scored the same (small data, or a run stuck at one
        # accuracy) have no spread, and SciPy warns that their moments lost
        # precision; the interval is then undefined, the comparison undecided.
        warnings.filterwarnings("ignore", "Precision loss", RuntimeWarning)
        welch = stats.ttest_ind(a, b, equal_var=False)
    low, high = difference_interval(a, b, alpha)
    verdict = decide(low, high, margin, objective)
    needed = None
    if verdict == UNDECIDED:
        spread = math.sqrt((a.var(ddof=1) + b.var(ddof=1)) / 2)
        needed = repeats_needed(margin, spread, alpha, reference_share)
    return Comparison(
        difference, low, high, p_beats, float(welch.pvalue), verdict, needed
    )


def difference_interval(a, b, alpha: float) -> tuple[float, float]:
    """The interval of mean(a) - mean(b) at level 1 - `alpha`: Welch's
    standard error with Hsu's conservative degrees of freedom, the smaller
    sample's n - 1.

    Welch's own degrees of freedom (Satterthwaite's) hold the level at 5%,
    but not in the far tail the study's split level reaches (0.1% and less)
    with 3 runs against 9: simulated, the study called a trial better or
    worse by chance in 8.5% of studies of nine equal trials. Hsu's
    interval never covers less than its level, whatever the two variances
    (Hsu 1938; Scheffe 1970). NaN bounds when neither sample varies.
    """
    from scipy import stats

    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    spread = math.sqrt(a.var(ddof=1) / len(a) + b.var(ddof=1) / len(b))
    if not spread > 0:
        return math.nan, math.nan
    df = min(len(a), len(b)) - 1
    low, high = stats.t.interval(1 - alpha, df, loc=a.mean() - b.mean(), scale=spread)
    return float(low), float(high)


def decide(low: float, high: float, margin: float, objective: Objective) -> str:
    """The verdict of a difference's interval (see the module's rule)."""
    if -margin < low and high < margin:  # NaN bounds compare False: undecided
        return EQUIVALENT
    if low > 0 or high < 0:
        return BETTER if objective.gain(low if low > 0 else high) > 0 else WORSE
    return UNDECIDED  # NaN bounds too


def repeats_needed(
    margin: float, std: float, alpha: float, reference_share: float = 1.0
) -> int | None:
    """Runs per trial (the reference `reference_share` times as many) at
    which a comparison at level `alpha` is decided with probability `POWER`,
    both ways: better or worse if the true difference were the margin, and
    equivalent if it were 0, for runs of spread `std`.

    Planned on the margin, never on the observed difference: for two equal
    trials that one promises a difference that does not exist. The power of
    the first is the noncentral t's (`scipy.stats.nct`); that of the second
    is at least 1 - 2 (1 - the first's), since equivalence needs each of
    its two one-sided bounds to clear the margin; so the first is asked for
    (1 + `POWER`) / 2. `None` past `LARGEST_REPEATS_NEEDED`, or without a
    spread.
    """
    from scipy import stats

    if not (std > 0 and math.isfinite(std)):
        return None
    for n in range(2, LARGEST_REPEATS_NEEDED + 1):
        runs = n * reference_share
        df = n + runs - 2
        critical = stats.t.ppf(1 - alpha / 2, df)
        shift = margin / (std * math.sqrt(1 / n + 1 / runs))
        if stats.nct.sf(critical, df, shift) >= (1 + POWER) / 2:
            return n
    return None
