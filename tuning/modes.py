"""The search modes: which settings each uses, and the oracle it builds.

Adding a mode is one `Mode` in `MODES`. The command line takes its choices
from this table, `tuning.settings.resolve_settings` refuses a flag the chosen
mode does not use, and everything else that depends on the mode (what a
trial is, whether `--repeats auto` applies, what importance says of it) asks
the `Mode`. Keras Tuner is imported only when an oracle is built.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tuning.settings import StudySettings

# Settings that only some modes use; every other setting applies to all.
MODE_SPECIFIC = ("variants", "reference", "max_trials", "space")
HYPERBAND_FACTOR = 3
# Keras Tuner's Hyperband oracle schedules a trial in hyperparameters under
# this prefix: how it trains, not what it is (see `TrialBudget`).
SCHEDULING_PREFIX = "tuner/"


@dataclasses.dataclass(frozen=True)
class Mode:
    """One search mode.

    Attributes:
        name: the `--mode` value.
        summary: what it searches, for `--help` and README.
        uses: the `MODE_SPECIFIC` settings it reads.
        make_oracle: builds its Keras Tuner oracle from the settings, the
            `keras_tuner.Objective`, and the variants still undecided after
            a look (for `--repeats auto`).
        sampling: how its proposals cover the space, where that shapes what
            importance can say (`{epochs}` is the study's epochs).
    """

    name: str
    summary: str
    uses: frozenset[str]
    make_oracle: Callable[[StudySettings, object, OpenAfter | None], object]
    sampling: str = ""

    @property
    def trains_variants(self) -> bool:
        """Its trials are the named variants (`--variants`), told apart by name."""
        return "variants" in self.uses

    @property
    def searches_space(self) -> bool:
        """Its trials are points of the search space (`--space`), told apart
        by their hyperparameters; importance assesses them."""
        return "space" in self.uses

    @property
    def fixes_reference(self) -> bool:
        """Its reference is named before any run (`--reference`), so
        `--repeats auto` can plan rounds around it."""
        return "reference" in self.uses


# The variants whose comparison is still undecided after a look.
OpenAfter = Callable[[int], set[str]]


@dataclasses.dataclass(frozen=True)
class TrialBudget:
    """How the oracle scheduled a trial: the epochs it trains to, the epoch
    it starts from, and the trial whose checkpoint it continues (Hyperband
    promotes a trial by continuing it; other oracles train from scratch)."""

    epochs: int | None = None
    initial_epoch: int = 0
    continues: str | None = None

    @classmethod
    def of(cls, values: Mapping[str, object]) -> TrialBudget:
        """The budget a trial's hyperparameter `values` carry."""
        return cls(
            values.get(SCHEDULING_PREFIX + "epochs"),
            values.get(SCHEDULING_PREFIX + "initial_epoch", 0),
            values.get(SCHEDULING_PREFIX + "trial_id"),
        )


def searched_values(values: Mapping[str, object]) -> dict[str, object]:
    """A trial's hyperparameter `values` without its scheduling: what it trained."""
    return {k: v for k, v in values.items() if not k.startswith(SCHEDULING_PREFIX)}


def make_oracle(settings: StudySettings, open_after: OpenAfter | None = None):
    """The Keras Tuner oracle of `settings.mode`, optimizing `settings.objective`.

    Args:
        settings: the study's settings.
        open_after: for `--repeats auto`, what the next round trains.
    """
    return MODES[settings.mode].make_oracle(
        settings, settings.objective.to_keras_tuner(), open_after
    )


def _grid_oracle(settings: StudySettings, objective, open_after):
    from hypermodels import VARIANTS_BY_NAME
    from tuning.oracles import VariantGridOracle

    return VariantGridOracle(
        [VARIANTS_BY_NAME[name] for name in settings.variants],
        reference=settings.reference,
        schedule=settings.schedule() if settings.max_repeats else None,
        open_after=open_after,
        objective=objective,
        seed=settings.seed,
    )


def _random_oracle(settings: StudySettings, objective, open_after=None):
    import keras_tuner as kt

    return kt.oracles.RandomSearchOracle(
        objective,
        max_trials=settings.max_trials,
        seed=settings.seed,
    )


def _bayesian_oracle(settings: StudySettings, objective, open_after=None):
    import keras_tuner as kt

    return kt.oracles.BayesianOptimizationOracle(
        objective,
        max_trials=settings.max_trials,
        seed=settings.seed,
    )


def _hyperband_oracle(settings: StudySettings, objective, open_after=None):
    import keras_tuner as kt

    return kt.oracles.HyperbandOracle(
        objective,
        max_epochs=settings.epochs,
        factor=HYPERBAND_FACTOR,
        seed=settings.seed,
    )


MODES: dict[str, Mode] = {
    mode.name: mode
    for mode in (
        Mode(
            "grid",
            "the named variants, one trial each, in order",
            frozenset({"variants", "reference"}),
            _grid_oracle,
        ),
        Mode(
            "random",
            "random samples of the search space",
            frozenset({"max_trials", "space"}),
            _random_oracle,
        ),
        Mode(
            "bayesian",
            "Bayesian optimization over the search space",
            frozenset({"max_trials", "space"}),
            _bayesian_oracle,
            "Bayesian optimization samples where it expects the best, not "
            "evenly: the shares describe the part of the space it searched.",
        ),
        Mode(
            "hyperband",
            "Hyperband over the search space, up to --epochs per trial",
            frozenset({"space"}),
            _hyperband_oracle,
            "Hyperband: only the trials that trained all {epochs} epochs are assessed.",
        ),
    )
}
