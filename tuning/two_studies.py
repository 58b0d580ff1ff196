"""Two studies compared: did a change (a backend, a version of the code, a
machine) change the results?

Each trial of study A is matched with the trial of study B that trained the
same configuration: the same variant in two grids, the same hyperparameters
in two searches. Each pair is compared as a study compares a trial with its
reference (`tuning.verdicts`): B's runs against A's, the difference of
means with a simultaneous interval over the pairs (the spread pooled over
both studies' matched trials where they agree, else the pair's own), and
the same four verdicts within the margin. A's settings are the yardstick;
those that change what a trial's objective measures must be equal in B for
any verdict to mean something.
"""

from __future__ import annotations

import dataclasses

from tuning import verdicts
from tuning.analysis import Analysis, TrialResult
from tuning.modes import searched_values
from tuning.rounds import Family
from tuning.settings import StudySettings

# Settings that change what a trial's objective measures: comparing runs
# that differ in one compares two measurements, not two trainings.
MEASUREMENT = (
    "objective", "epochs", "validation_split", "limit", "batch_size",
    "early_stopping",
)  # fmt: skip
# Settings that may differ (one of them is usually the change under test).
CIRCUMSTANCES = (
    "backend",
    "runs_at_once",
    "seed",
    "common_seeds",
    "data",
    "mode",
    "repeats",
    "max_repeats",
)
# Settings that say which trials a study has, or how it judges them alone:
# trials are matched by configuration, and a comparison has its own margin.
NOT_COMPARED = ("variants", "max_trials", "space", "reference", "margin")
# Every setting of `StudySettings` is in one of the three; a test checks it.


@dataclasses.dataclass(frozen=True)
class Pair:
    """One configuration trained in both studies.

    Attributes:
        label: its label in study A.
        a, b: its trial in each study.
        comparison: B's runs against A's (`difference` is B minus A).
    """

    label: str
    a: TrialResult
    b: TrialResult
    comparison: verdicts.Comparison


@dataclasses.dataclass(frozen=True)
class TwoStudies:
    """Study B's trials against study A's.

    Attributes:
        a, b: the two studies, analysed.
        pairs: the matched trials, in A's order.
        only_a, only_b: labels of the trials that found no match.
        margin: D, the smallest difference that matters.
        family: the pairs' family: their number, and 5% for all of them.
        differences: each setting that differs -> (A's value, B's value).
        names: what to call A and B, e.g. their run directories.
    """

    a: Analysis
    b: Analysis
    pairs: list[Pair]
    only_a: list[str]
    only_b: list[str]
    margin: float
    family: Family
    differences: dict[str, tuple]
    names: tuple[str, str] = ("A", "B")

    @property
    def measurement_differences(self) -> list[str]:
        """The differing settings that change what the objective measures."""
        return list(measurement_differences(self.differences))


def differing_settings(a: StudySettings, b: StudySettings) -> dict[str, tuple]:
    """Each setting that matters to a comparison and differs -> (A's, B's);
    those of `MEASUREMENT` first."""
    differences = {}
    for name in (*MEASUREMENT, *CIRCUMSTANCES):
        mine, theirs = getattr(a, name), getattr(b, name)
        if mine != theirs:
            differences[name] = (str(mine), str(theirs))
    return differences


def measurement_differences(differences: dict[str, tuple]) -> dict[str, tuple]:
    """Those of `differences` (`differing_settings`) in `MEASUREMENT`."""
    return {k: v for k, v in differences.items() if k in MEASUREMENT}


def compare_studies(
    a: Analysis,
    b: Analysis,
    margin: float | None = None,
    names: tuple[str, str] = ("A", "B"),
) -> TwoStudies:
    """Matches A's trials with B's and compares each pair.

    Args:
        a: the study compared against.
        b: the study compared.
        margin: D; defaults to study A's.
        names: what to call A and B.
    """
    margin = margin or a.settings.margin
    named = all(s.settings.search_mode.trains_variants for s in (a, b))
    key = _name_key if named else _values_key
    ours, theirs = _by_key(a, key), _by_key(b, key)
    found = [(ours[k], theirs[k]) for k in ours if k in theirs]
    family = Family(max(len(found), 1), verdicts.ALPHA, correlation=0.0)
    groups = {}
    for i, (mine, their) in enumerate(found):
        groups[("A", i)], groups[("B", i)] = (
            mine.objective_values,
            their.objective_values,
        )
    judged = verdicts.compare_all(
        groups,
        {i: (("B", i), ("A", i)) for i in range(len(found))},
        a.objective,
        margin,
        family,
    )
    pairs = [
        Pair(mine.label, mine, their, judged[i])
        for i, (mine, their) in enumerate(found)
    ]
    return TwoStudies(
        a,
        b,
        pairs,
        [t.label for k, t in ours.items() if k not in theirs],
        [t.label for k, t in theirs.items() if k not in ours],
        margin,
        family,
        differing_settings(a.settings, b.settings),
        names,
    )


def _by_key(analysis: Analysis, key) -> dict:
    """The trials with finished runs by `key`; of trials that share one (a
    configuration Hyperband continued), the last."""
    return {key(t): t for t in analysis.trials if t.runs}


def _name_key(trial: TrialResult):
    return trial.label


def _values_key(trial: TrialResult):
    return tuple(sorted(searched_values(trial.record.hyperparameters).items()))
