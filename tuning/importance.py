"""Which hyperparameters matter after a wider search, and in which direction.

Importance is fANOVA's (Hutter, Hoos and Leyton-Brown 2014), as Optuna
computes it: a random forest is fitted to the trials, and each
hyperparameter's share is the part of the variance of the forest's
objective that it explains alone (its main effect); what the shares leave
is interactions. A forest of a few dozen trials is itself uncertain, so
every share comes with an interval: the trials resampled with replacement
and the forest grown from another seed, `RESAMPLES` times.

What it is fitted to: each completed trial's mean objective over its runs;
in a Hyperband search, only the trials that trained the full budget (the
others are scored after fewer epochs). Log-scaled ranges are given to the
forest as log10 values, so that fANOVA averages over the space as the search
sampled it (Optuna's fANOVA integrates on the values' own scale).

Conditional rates (`dropout`, `l2`) exist only in the trials that have them
on. Whether they are on (`dropout_on`, `l2_on`) is assessed over all trials;
a rate's share is assessed among the trials that have it, beside the other
hyperparameters there: a share of the variance among those trials.

Slices are the marginal view: every trial's objective against each
hyperparameter's value, and the direction of each effect from the data
(Spearman's rank correlation for numbers, the mean per value for choices,
both from scipy.stats).
"""

from __future__ import annotations

import dataclasses
import logging
import math
import warnings
from typing import NamedTuple

import numpy as np

from hypermodels.space import Dimension, dimensions
from tuning.analysis import Analysis
from tuning.modes import TrialBudget
from tuning.records import COMPLETED

logger = logging.getLogger(__name__)

# Below this many trials per hyperparameter assessed (and below
# `FEWEST_TRIALS` in all), the forest describes the trials, not the space:
# importance is not shown.
TRIALS_PER_HYPERPARAMETER = 2
FEWEST_TRIALS = 10
RESAMPLES = 100
# Forests grown on all trials for the point estimate, from seeds 0, 1, ...
POINT_SEEDS = 5
TREES = 16
LEVEL = 0.95
# Tukey's fences for "far out": this many interquartile ranges past a quartile.
FAR_OUT = 3.0


class Scored(NamedTuple):
    """A completed trial as importance sees it: its values and its mean
    objective over its runs, with that mean's 95% interval."""

    label: str
    values: dict
    mean: float
    low: float
    high: float


@dataclasses.dataclass(frozen=True)
class Share:
    """One hyperparameter's share of the objective's variance.

    Attributes:
        name: the hyperparameter.
        share: fANOVA's main effect, the mean over `POINT_SEEDS` forests.
        low, high: its `LEVEL` interval over the resampled trials.
        trials: the trials it was assessed on.
        condition: for a conditional rate, the hyperparameter those trials
            have on; `None` when assessed over all trials.
    """

    name: str
    share: float
    low: float
    high: float
    trials: int
    condition: str | None = None


@dataclasses.dataclass(frozen=True)
class Slice:
    """Every trial's objective against one hyperparameter's value.

    Attributes:
        axis: the hyperparameter.
        values: its value in each trial that has it.
        means, lows, highs: each trial's mean objective and its 95%
            interval over its runs (NaN bounds for one run).
        correlation: for a number, Spearman's rank correlation of value and
            objective; `None` for a choice.
        p_value: that correlation's p-value, or, for a choice, the
            Kruskal-Wallis test's that every value scores alike; NaN where
            there is too little to test.
    """

    axis: Dimension
    values: list
    means: list[float]
    lows: list[float]
    highs: list[float]
    correlation: float | None
    p_value: float

    def means_by_value(self) -> dict:
        """A choice's values -> (mean objective of its trials, their count)."""
        groups: dict = {}
        for value, mean in zip(self.values, self.means, strict=True):
            groups.setdefault(value, []).append(mean)
        return {value: (float(np.mean(g)), len(g)) for value, g in groups.items()}


@dataclasses.dataclass(frozen=True)
class Importance:
    """A wider search's importance and slices.

    Attributes:
        trials: the trials assessed.
        resamples: the resampled sets of trials the intervals come from.
        needed: the fewest trials the assessment over all trials needs.
        shares: the shares over all trials, largest first, then each
            conditional rate's; empty when there were too few trials.
        too_few: conditional rates not assessed -> (trials that have them,
            trials needed).
        slices: one per hyperparameter, in the space's order.
        far_out: the trials whose objective lies far from the others'
            (`FAR_OUT`), which alone can carry most of the variance.
        same_score: the objective every assessed trial scored, when they
            all scored the same: no variance to explain, no shares.
    """

    trials: int
    resamples: int
    needed: int
    shares: list[Share]
    too_few: dict[str, tuple[int, int]]
    slices: list[Slice]
    far_out: list[Scored]
    same_score: float | None = None

    def far_out_in_common(self) -> dict:
        """The choices all far-out trials made alike, when there are two or
        more of them: a combination that main effects do not show."""
        if len(self.far_out) < 2:
            return {}
        first, names = (
            self.far_out[0].values,
            [s.axis.name for s in self.slices if s.axis.choices is not None],
        )
        return {
            name: first[name]
            for name in names
            if name in first
            and all(t.values.get(name) == first[name] for t in self.far_out)
        }

    @property
    def leader(self) -> Share | None:
        """The hyperparameter clearly ahead: the one whose interval lies
        above every other's over all trials; `None` if intervals overlap."""
        shares = [s for s in self.shares if s.condition is None]
        if len(shares) < 2:
            return None
        first, others = shares[0], shares[1:]
        return first if all(first.low > s.high for s in others) else None


def needed_trials(hyperparameters: int) -> int:
    """The fewest trials an assessment of `hyperparameters` needs."""
    return max(FEWEST_TRIALS, TRIALS_PER_HYPERPARAMETER * hyperparameters)


def assess(analysis: Analysis, resamples: int = RESAMPLES) -> Importance | None:
    """The importance and slices of a wider search's trials; `None` for a grid."""
    settings = analysis.settings
    if not settings.search_mode.searches_space:
        return None
    axes = search_axes(settings.space)
    trials = _scored_trials(analysis)
    slices = [_slice(axis, trials) for axis in axes]
    unconditional = [a for a in axes if a.condition is None]
    needed = needed_trials(len(unconditional))
    shares, too_few = [], {}
    means = {t.mean for t in trials}
    same_score = means.pop() if len(trials) >= needed and len(means) == 1 else None
    if len(trials) >= needed and same_score is None:
        logger.info(
            "Importance: fANOVA over %d trials, %d resamples", len(trials), resamples
        )
        rng = np.random.default_rng(settings.seed or 0)
        shares = _shares(unconditional, trials, None, resamples, rng)
        shares.sort(key=lambda s: -s.share)
        for axis in (a for a in axes if a.condition):
            share = _conditional_share(axis, unconditional, trials, resamples, rng)
            if isinstance(share, Share):
                shares.append(share)
            else:
                too_few[axis.name] = share
    return Importance(
        len(trials), resamples, needed, shares, too_few, slices, _far_out(trials),
        same_score,
    )  # fmt: skip


def _conditional_share(
    axis: Dimension, unconditional: list[Dimension], trials, resamples, rng
) -> Share | tuple[int, int]:
    """A conditional rate's share among the trials that have it, beside
    the other hyperparameters; (trials that have it, trials needed) when
    they are too few."""
    group = [a for a in unconditional if a.name != axis.condition] + [axis]
    having = [t for t in trials if t.values.get(axis.condition)]
    if len(having) < needed_trials(len(group)):
        return len(having), needed_trials(len(group))
    shares = _shares(group, having, axis.condition, resamples, rng)
    return next(s for s in shares if s.name == axis.name)


def _far_out(trials: list[Scored]) -> list[Scored]:
    """Tukey's far-out trials: beyond `FAR_OUT` interquartile ranges past
    the quartiles (a run that never learned, at chance, is one)."""
    if len(trials) < 4:
        return []
    q1, q3 = np.percentile([t.mean for t in trials], [25, 75])
    reach = FAR_OUT * (q3 - q1)
    return [t for t in trials if not q1 - reach <= t.mean <= q3 + reach]


def search_axes(space: dict) -> list[Dimension]:
    """The hyperparameters a space lets vary, in the space's order."""
    return [d for d in dimensions(space) if not _constant(d)]


def _distribution(axis: Dimension):
    """Its Optuna distribution, log ranges as log10 values."""
    from optuna import distributions

    if axis.choices is not None:
        return distributions.CategoricalDistribution(axis.choices)
    if axis.log:
        return distributions.FloatDistribution(
            math.log10(axis.low), math.log10(axis.high)
        )
    if axis.integer:
        return distributions.IntDistribution(int(axis.low), int(axis.high))
    return distributions.FloatDistribution(axis.low, axis.high)


def _encoded(axis: Dimension, value):
    """A trial's value as `_distribution` holds it."""
    return math.log10(value) if axis.log else value


def _constant(axis: Dimension) -> bool:
    if axis.choices is not None:
        return len(set(axis.choices)) < 2
    return axis.low == axis.high


def _scored_trials(analysis: Analysis) -> list[Scored]:
    """The completed trials; Hyperband's only at the full budget."""
    epochs = analysis.settings.epochs
    scored = []
    for trial in analysis.trials:
        values = trial.record.hyperparameters
        if trial.record.status != COMPLETED or not trial.summaries:
            continue
        if TrialBudget.of(values).epochs not in (None, epochs):
            continue
        summary = trial.summaries["objective"]
        if math.isfinite(summary.mean):
            scored.append(
                Scored(
                    trial.label, values, summary.mean, summary.ci_low, summary.ci_high
                )
            )
    return scored


def _shares(axes, trials, condition, resamples, rng) -> list[Share]:
    """Each axis' share: the mean over `POINT_SEEDS` forests on `trials`,
    and its interval over `resamples` resampled trials and seeds."""
    points = [_fanova(axes, trials, seed) for seed in range(POINT_SEEDS)]
    resampled = [
        _fanova(axes, [trials[i] for i in rng.integers(len(trials), size=len(trials))],
                POINT_SEEDS + r)
        for r in range(resamples)
    ]  # fmt: skip
    tail = 100 * (1 - LEVEL) / 2
    shares = []
    for axis in axes:
        draws = [r[axis.name] for r in resampled]
        low, high = np.percentile(draws, [tail, 100 - tail])
        share = float(np.mean([p[axis.name] for p in points]))
        shares.append(
            Share(axis.name, share, float(low), float(high), len(trials), condition)
        )
    return shares


def _fanova(axes: list[Dimension], trials, seed: int) -> dict[str, float]:
    """fANOVA's main effect of each axis on `trials`, by Optuna; none where
    they all scored the same (a resample can draw only such trials), which
    Optuna refuses ("zero total variance")."""
    if len({trial.mean for trial in trials}) == 1:
        return {axis.name: 0.0 for axis in axes}
    import optuna
    from optuna.importance import FanovaImportanceEvaluator

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    distributions = {axis.name: _distribution(axis) for axis in axes}
    study = optuna.create_study()
    study.add_trials(
        [
            optuna.trial.create_trial(
                params={a.name: _encoded(a, trial.values[a.name]) for a in axes},
                distributions=distributions,
                value=trial.mean,
            )
            for trial in trials
        ]
    )
    evaluator = FanovaImportanceEvaluator(n_trees=TREES, seed=seed)
    shares = evaluator.evaluate(study, params=[a.name for a in axes])
    return {name: float(share) for name, share in shares.items()}


def _slice(axis: Dimension, trials) -> Slice:
    having = [t for t in trials if axis.name in t.values]
    values = [t.values[axis.name] for t in having]
    means = [t.mean for t in having]
    correlation, p_value = None, math.nan
    with warnings.catch_warnings():
        # Constant inputs have no correlation: NaN, which the report skips.
        warnings.simplefilter("ignore")
        if axis.choices is None:
            correlation, p_value = _rank_correlation(values, means)
        else:
            p_value = _kruskal(values, means)
    return Slice(
        axis,
        values,
        means,
        [t.low for t in having],
        [t.high for t in having],
        correlation,
        p_value,
    )


def _rank_correlation(values, means) -> tuple[float, float]:
    from scipy import stats

    if len(values) < 3:
        return math.nan, math.nan
    result = stats.spearmanr(values, means)
    return float(result.statistic), float(result.pvalue)


def _kruskal(values, means) -> float:
    from scipy import stats

    groups: dict = {}
    for value, mean in zip(values, means, strict=True):
        groups.setdefault(value, []).append(mean)
    if len(groups) < 2 or len(values) <= len(groups):
        return math.nan
    try:
        return float(stats.kruskal(*groups.values()).pvalue)
    except ValueError:  # every value the same
        return math.nan
