"""How sure a study is of its numbers: intervals over runs, and verdicts.

Every distribution comes from `scipy.stats`. A trial's mean has a Student-t
interval. A difference from the reference has a simultaneous interval: all
of a look's m comparisons hold together with the chance the schedule gives
that look (`tuning.rounds`), 5% over the study. Seed noise is largely the
protocol's, shared by the study's trials, so the interval is Dunnett's
(1955) on their pooled spread: the multivariate t of m statistics that
share the reference and the variance estimate. Where run k of every trial
trained from the same seed (`Family.paired`), much of that noise is shared
run by run, and it cancels: a comparison is on the differences of runs of
one seed, and the pooled spread is what is left after each trial's and each
seed's effect (a two-way layout, trials by seeds, fitted by least squares).
A trial whose spread an F test sets apart gets an interval from its own
runs (paired t; else Welch's, with Hsu's degrees of freedom; at the look's
level split over the m comparisons), and a verdict of the pooled interval
stands only if the trial's own interval at the look's level bears it out,
which guards against a spread too few runs could not show. The verdict
follows from the interval and the margin D, the smallest difference that
matters: *equivalent* inside (-D, D), else *better* or *worse* when it
excludes 0, else *undecided*. docs/statistics.md gives the method, its
assumptions, its sources and the simulations of the product's own decisions
that measure its error rates.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

from tuning.objective import Objective
from tuning.rounds import Family

CONFIDENCE = 0.95
ALPHA = 1 - CONFIDENCE
# The power at which `repeats_needed` resolves a difference.
POWER = 0.8
LARGEST_REPEATS_NEEDED = 1000
# The run counts `repeats_needed` tries, in order: most comparisons need
# fewer than 34.
_RUNS_SEARCHED = (np.arange(2, 34), np.arange(34, LARGEST_REPEATS_NEEDED + 1))
# A trial whose spread the one-sided F test sets apart at this level gets
# its own interval, not the pooled one.
SPREAD_TEST_LEVEL = 0.05
# The multivariate t's integration is randomized: a fixed seed makes the
# same runs give the same verdicts.
CRITICAL_VALUE_SEED = 0
# Which interval decided a comparison.
POOLED, OWN = "pooled", "own"

BETTER, WORSE, EQUIVALENT, UNDECIDED = "better", "worse", "equivalent", "undecided"
NO_VERDICT = "no verdict (1 run)"
# The verdicts that end a comparison.
DECIDED = (BETTER, WORSE, EQUIVALENT)
# The rule, as every report states it.
RULE = (
    "*Equivalent* when the interval lies within plus or minus D, *better* or "
    "*worse* when it excludes 0, else *undecided*."
)
# The intervals, as every report states them: runs with seeds of their own,
# and runs paired by their seed.
INTERVALS = (
    "Dunnett's, on the spread pooled over the trials, where a pooled verdict "
    "stands only if the trial's own Welch interval at the same look bears it out; "
    "Welch's with Hsu's degrees of freedom where an F test sets a trial's "
    "spread apart"
)
PAIRED_INTERVALS = (
    "runs paired by their seed; Dunnett's, on the spread left by the trials' "
    "and the seeds' effects, pooled over the trials, where a pooled verdict "
    "stands only if the trial's own paired t interval at the same look bears "
    "it out; the paired t interval where an F test sets a comparison's spread "
    "apart"
)
# Every verdict, in the order outputs list them.
ALL = (*DECIDED, UNDECIDED, NO_VERDICT)


def method(family: str, paired: bool = False) -> str:
    """How every verdict is reached, as a report says it after "the
    difference of means with its": the interval over the `family` of
    comparisons (of runs `paired` by their seed or not), and the rule."""
    intervals = PAIRED_INTERVALS if paired else INTERVALS
    return (
        f"simultaneous 95% interval over {family} ({intervals}; "
        "docs/statistics.md). " + RULE
    )


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
        ci_low, ci_high: its simultaneous interval (see `interval`).
        p_beats: P(A>B), the chance that one run of the trial beats one run
            of the reference (higher is better unless the metric is a loss);
            NaN, like the interval, with one run on a side.
        verdict: `BETTER`, `WORSE`, `EQUIVALENT`, `UNDECIDED` or `NO_VERDICT`.
        repeats_needed: for an undecided comparison, runs per trial that
            would decide it with probability `POWER` (see `repeats_needed`);
            `None` otherwise, or past `LARGEST_REPEATS_NEEDED`.
        interval: `POOLED` or `OWN`: which interval decided.
        why: where the interval is `OWN`, or the verdict undecided for
            a reason the interval does not show, that reason in words.
    """

    difference: float
    ci_low: float
    ci_high: float
    p_beats: float
    verdict: str
    repeats_needed: int | None
    interval: str = ""
    why: str = ""


def runs_needed_cell(comparison: Comparison) -> str:
    """How many runs per trial would decide `comparison`, as every table
    shows it: blank unless undecided, else the number or `> 1000`."""
    if comparison.verdict != UNDECIDED:
        return ""
    if comparison.repeats_needed is None:
        return f"> {LARGEST_REPEATS_NEEDED}"
    return str(comparison.repeats_needed)


def summarize(values, bounds: tuple[float, float] = (-math.inf, math.inf)) -> Summary:
    """The mean of `values` with its standard deviation and 95% t interval,
    the interval cut to `bounds`, the values the metric can take (an
    accuracy's interval over two runs can otherwise reach past 1)."""
    values = np.asarray(values, dtype=float)
    n, mean = len(values), float(np.mean(values))
    if n < 2:
        return Summary(n, mean, math.nan, math.nan, math.nan)
    std = float(np.std(values, ddof=1))
    if std == 0:
        return Summary(n, mean, 0.0, mean, mean)
    from scipy import stats  # 0.8 s to import: only where a study needs it

    low, high = stats.t.interval(CONFIDENCE, n - 1, loc=mean, scale=stats.sem(values))
    return Summary(
        n, mean, std, max(float(low), bounds[0]), min(float(high), bounds[1])
    )


def why_undecided(comparison: Comparison, margin: float, runs: int) -> str:
    """Why an undecided comparison of a trial of `runs` runs is, in its
    numbers: the reason `Comparison.why` gives, or what its interval
    holds, the half-width a verdict needs at its difference, and about how
    many runs would narrow the interval to it if the difference held (an
    interval narrows as one over the square root of the runs)."""
    if comparison.interval == POOLED and comparison.why:
        return comparison.why  # the guard: the pooled interval had decided
    if math.isnan(comparison.ci_low):
        return "its runs do not vary, so no interval can be drawn"
    low, high, difference = comparison.ci_low, comparison.ci_high, comparison.difference
    half, needed = (high - low) / 2, max(margin - abs(difference), abs(difference))
    which = (
        f"{comparison.why}, so its own interval" if comparison.why else "its interval"
    )
    return (
        f"{which} [{low:+.4f}, {high:+.4f}] holds 0 and reaches past "
        f"±{margin:g}; a verdict at a difference of {difference:+.4f} needs a "
        f"half-width under {needed:.4f}, against {half:.4f}: about "
        f"{math.ceil(runs * (half / needed) ** 2)} runs if the difference held"
    )


def compare_all(
    groups: dict[str, Sequence[float]],
    pairs: dict[str, tuple[str, str]],
    objective: Objective,
    margin: float,
    family: Family,
) -> dict[str, Comparison]:
    """Compares each pair of `groups` (see the module's rule).

    Args:
        groups: every trial's values of the objective at this look, one
            per run: those compared and all others, whose spread the
            pooled interval shares.
        pairs: per comparison, the names in `groups` of its trial and of
            its reference.
        objective: which direction is better.
        margin: D, the smallest difference that matters (> 0).
        family: the comparisons' family at this look.
    """
    values = {name: np.asarray(v, dtype=float) for name, v in groups.items()}
    if family.paired:  # one reference: a study's
        (reference,) = {reference for _, reference in pairs.values()}
        pool = Pool.by_seed(values, reference)
    else:
        pool = Pool.of(values)
    return {
        label: _compare(values[trial], values[reference], objective, margin, family,
                        pool, pool.differs.get(trial) or pool.differs.get(reference))
        for label, (trial, reference) in pairs.items()
    }  # fmt: skip


@dataclasses.dataclass(frozen=True)
class Pool:
    """The runs' spread shared by a study's trials: their variance, pooled
    over the trials whose own spread the F test does not set apart.

    Attributes:
        variance: the pooled variance; NaN without a degree of freedom.
        df: its degrees of freedom, the members' runs minus one each.
        differs: per trial set apart, why (its F test).
    """

    variance: float
    df: int
    differs: dict[str, str]

    @classmethod
    def of(cls, groups: dict[str, np.ndarray]) -> Pool:
        """Tests each group's variance against the others' pooled (one-sided
        F test at `SPREAD_TEST_LEVEL`), then pools the groups it keeps."""
        from scipy import stats

        squares = {
            n: float(((v - v.mean()) ** 2).sum())
            for n, v in groups.items()
            if len(v) > 1
        }
        dfs = {n: len(groups[n]) - 1 for n in squares}
        differs = {}
        for name in squares:
            rest_df = sum(dfs.values()) - dfs[name]
            rest = (sum(squares.values()) - squares[name]) / rest_df if rest_df else 0.0
            if not rest > 0:
                continue
            ratio = squares[name] / dfs[name] / rest
            p = float(stats.f.sf(ratio, dfs[name], rest_df))
            if p < SPREAD_TEST_LEVEL:
                differs[name] = (
                    f"its runs spread {math.sqrt(ratio):.1f} times the others' "
                    f"(F test p = {p:.3f})"
                )
        kept = [n for n in squares if n not in differs]
        df = sum(dfs[n] for n in kept)
        variance = sum(squares[n] for n in kept) / df if df else math.nan
        return cls(variance, df, differs)

    @classmethod
    def by_seed(cls, groups: dict[str, np.ndarray], reference: str) -> Pool:
        """The spread of runs paired by their seed (run k of every group
        trained from seed k): what is left after each group's and each
        seed's effect (`_two_way`), over the groups the F test keeps. A
        group is set apart when its differences from the `reference`'s
        runs of the same seeds spread more than twice the variance pooled
        over the others (one-sided F test at `SPREAD_TEST_LEVEL`)."""
        from scipy import stats

        differs = {}
        for trial in (name for name in groups if name != reference):
            variance, df = _two_way({n: v for n, v in groups.items() if n != trial})
            runs = groups[trial]  # a trial decided earlier has fewer
            differences = runs - groups[reference][: len(runs)]
            if len(differences) < 2 or not variance > 0:
                continue
            ratio = float(differences.var(ddof=1)) / (2 * variance)
            p = float(stats.f.sf(ratio, len(differences) - 1, df))
            if p < SPREAD_TEST_LEVEL:
                differs[trial] = (
                    f"its differences from the reference's runs of the same seeds "
                    f"spread {math.sqrt(ratio):.1f} times the others' pooled spread "
                    f"(F test p = {p:.3f})"
                )
        kept = {n: v for n, v in groups.items() if n not in differs}
        return cls(*_two_way(kept), differs)


def _two_way(groups: dict[str, np.ndarray]) -> tuple[float, int]:
    """The residual variance of the additive layout group + seed (run k of
    every group is seed k's), fitted by least squares, with its degrees of
    freedom: the runs less the effects' count. For two groups of n runs,
    half the variance of their differences on n - 1: the paired t's."""
    cells = [(g, k) for g, v in enumerate(groups.values()) for k in range(len(v))]
    if not cells:
        return math.nan, 0
    seeds = 1 + max(k for _, k in cells)
    design = np.zeros((len(cells), len(groups) + seeds))
    for row, (group, seed) in enumerate(cells):
        design[row, [group, len(groups) + seed]] = 1.0
    values = np.concatenate(list(groups.values()))
    effects, _, rank, _ = np.linalg.lstsq(design, values, rcond=None)
    df = len(cells) - int(rank)
    squares = float(((values - design @ effects) ** 2).sum())
    if squares <= (len(values) * np.finfo(float).eps * np.abs(values).max()) ** 2:
        squares = 0.0  # the fit's rounding: runs the effects explain exactly
    return (squares / df if df else math.nan), df


class _Decision(NamedTuple):
    """An interval, its verdict, which interval it is and why, and the
    spread that plans more runs."""

    low: float
    high: float
    verdict: str
    interval: str
    why: str
    spread: float


def _compare(
    a: np.ndarray,
    b: np.ndarray,
    objective: Objective,
    margin: float,
    family: Family,
    pool: Pool,
    differs: str | None,
) -> Comparison:
    difference = float(a.mean() - b.mean()) if len(a) and len(b) else math.nan
    if min(len(a), len(b)) < 2:
        # One run against one run says nothing of how often one beats the
        # other: nothing here can be estimated but the difference.
        return Comparison(difference, math.nan, math.nan, math.nan, NO_VERDICT, None)
    from scipy import stats

    p_higher = float(stats.mannwhitneyu(a, b).statistic / (len(a) * len(b)))
    p_beats = p_higher if objective.higher_is_better else 1 - p_higher
    if differs or not pool.df or (family.paired and not pool.variance > 0):
        decision = _own(a, b, objective, margin, family, differs or "")
    else:
        decision = _pooled(a, b, objective, margin, family, pool)
    needed = None
    if decision.verdict == UNDECIDED:
        alpha = family.alpha / family.comparisons
        needed = repeats_needed(margin, decision.spread, alpha, family.reference_share)
    return Comparison(
        difference, decision.low, decision.high, p_beats, decision.verdict,
        needed, decision.interval, decision.why,
    )  # fmt: skip


def _own(a, b, objective: Objective, margin: float, family: Family, why: str):
    """The pair's own interval (paired t, else Welch-Hsu) at the look's
    level split over its comparisons."""
    alpha = family.alpha / family.comparisons
    if family.paired:
        low, high = paired_interval(a, b, alpha)
        spread = float(np.std(a - b, ddof=1)) / math.sqrt(2)
        if low == high:
            why = why or "its runs differ from the reference's alike for every seed"
    else:
        low, high = own_interval(a, b, alpha, hsu=True)
        spread = math.sqrt((a.var(ddof=1) + b.var(ddof=1)) / 2)
    return _Decision(low, high, decide(low, high, margin, objective), OWN, why, spread)


def _pooled(a, b, objective: Objective, margin: float, family: Family, pool: Pool):
    """Dunnett's interval, its verdict standing only where the pair's own
    interval (paired t, else Welch's) at the look's level gives the same."""
    low, high = pooled_interval(a, b, pool, family)
    verdict, why = decide(low, high, margin, objective), ""
    if verdict != UNDECIDED:
        own, name = (
            (paired_interval(a, b, family.alpha), "paired t")
            if family.paired
            else (own_interval(a, b, family.alpha), "Welch")
        )
        if not supports(*own, verdict, margin, objective):
            why = (
                f"the pooled interval says {verdict}, but the trial's own {name} "
                f"interval at {family.alpha:.3g}, [{own[0]:+.4f}, {own[1]:+.4f}], "
                "does not confirm it"
            )
            verdict = UNDECIDED
    return _Decision(low, high, verdict, POOLED, why, math.sqrt(pool.variance))


def pooled_interval(a, b, pool: Pool, family: Family) -> tuple[float, float]:
    """Dunnett's simultaneous interval of mean(a) - mean(b): the pooled
    spread, and the critical value of m t statistics that share it and the
    reference (`critical_value`). NaN bounds when no run varies."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    error = math.sqrt(pool.variance * (1 / len(a) + 1 / len(b)))
    if not error > 0:
        return math.nan, math.nan
    half = (
        critical_value(family.comparisons, family.correlation, pool.df, family.alpha)
        * error
    )
    difference = float(a.mean() - b.mean())
    return difference - half, difference + half


@functools.lru_cache(maxsize=256)
def _critical(comparisons: int, correlation: float, df: int, alpha: float) -> float:
    from scipy import optimize, stats

    if comparisons == 1:
        return float(stats.t.ppf(1 - alpha / 2, df))
    shape = np.full((comparisons, comparisons), correlation)
    np.fill_diagonal(shape, 1.0)
    statistics = stats.multivariate_t(shape=shape, df=df, seed=CRITICAL_VALUE_SEED)

    def missed(c: float) -> float:
        bound = np.full(comparisons, c)
        return 1 - statistics.cdf(bound, lower_limit=-bound) - alpha

    # Between the unadjusted and the Bonferroni critical values.
    low = stats.t.ppf(1 - alpha / 2, df)
    high = stats.t.ppf(1 - alpha / (2 * comparisons), df)
    return float(optimize.brentq(missed, 0.99 * low, 1.01 * high, xtol=1e-4))


def critical_value(
    comparisons: int, correlation: float, df: int, alpha: float
) -> float:
    """c such that m t statistics of correlation `correlation` sharing one
    variance estimate of `df` degrees of freedom all lie within plus or
    minus c with probability 1 - `alpha` (Dunnett 1955; the multivariate t
    of `scipy.stats`, integrated with a fixed seed so that a study's
    verdicts are reproducible). The correlation is rounded down to 0.01,
    which only widens the interval."""
    return _critical(comparisons, math.floor(correlation * 100) / 100, df, alpha)


def own_interval(a, b, alpha: float, hsu: bool = False) -> tuple[float, float]:
    """The interval of mean(a) - mean(b) at level 1 - `alpha` from the two
    trials' own spreads: Welch's standard error, with Satterthwaite's
    degrees of freedom or, with `hsu`, Hsu's conservative ones (the smaller
    sample's n - 1).

    Satterthwaite's keep a 95% interval at its level, but not in the far
    tail a level split over comparisons reaches (0.1% and less) with 3 runs
    against 9: simulated, the study called a trial better or worse by
    chance in 8.5% of studies of nine equal trials. Hsu's interval never
    covers less than its level, whatever the two variances (Hsu 1938;
    Scheffe 1970). NaN bounds when neither sample varies.
    """
    from scipy import stats

    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    va, vb = a.var(ddof=1) / len(a), b.var(ddof=1) / len(b)
    if not va + vb > 0:
        return math.nan, math.nan
    if hsu:
        df = min(len(a), len(b)) - 1
    else:
        df = (va + vb) ** 2 / (va**2 / (len(a) - 1) + vb**2 / (len(b) - 1))
    low, high = stats.t.interval(
        1 - alpha, df, loc=a.mean() - b.mean(), scale=math.sqrt(va + vb)
    )
    return float(low), float(high)


def paired_interval(a, b, alpha: float) -> tuple[float, float]:
    """The interval of mean(a) - mean(b) at level 1 - `alpha` from the
    differences of runs of one seed (`scipy.stats.ttest_rel`'s): exact for
    normal differences whatever the two trials' spreads. Differences that
    do not vary (the same configuration from the same seeds) are their own
    interval."""
    from scipy import stats

    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if not np.std(a - b) > 0:
        return float(np.mean(a - b)), float(np.mean(a - b))
    interval = stats.ttest_rel(a, b).confidence_interval(1 - alpha)
    return float(interval.low), float(interval.high)


def decide(low: float, high: float, margin: float, objective: Objective) -> str:
    """The verdict of a difference's interval (see the module's rule): the
    first it supports, equivalence before a sign."""
    for verdict in (EQUIVALENT, BETTER, WORSE):
        if supports(low, high, verdict, margin, objective):
            return verdict
    return UNDECIDED  # NaN bounds too


def supports(
    low: float, high: float, verdict: str, margin: float, objective: Objective
) -> bool:
    """Whether an interval bears `verdict` out: within (-D, D) for
    *equivalent*; past 0 on that side for *better* or *worse*. An interval
    within the margin that excludes 0 bears out both its sign and
    equivalence. NaN bounds bear out none."""
    if verdict == EQUIVALENT:
        return -margin < low and high < margin
    if not (low > 0 or high < 0):
        return False
    gain = objective.gain(low if low > 0 else high)
    return verdict == (BETTER if gain > 0 else WORSE)


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
    for counts in _RUNS_SEARCHED:  # many counts a call: SciPy's cost is per call
        runs = counts * reference_share
        df = counts + runs - 2
        critical = stats.t.ppf(1 - alpha / 2, df)
        shift = margin / (std * np.sqrt(1 / counts + 1 / runs))
        enough = stats.nct.sf(critical, df, shift) >= (1 + POWER) / 2
        if enough.any():
            return int(counts[enough.argmax()])
    return None
