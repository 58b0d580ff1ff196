"""The search modes: which settings each uses, and the oracle it builds.

Adding a mode is one `Mode` in `MODES` and its oracle. The command line
takes its choices from this table, and `tuning.settings.resolve_settings`
refuses a flag the chosen mode does not use. Keras Tuner is imported only
when an oracle is built.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tuning.settings import StudySettings

# Settings that only some modes use; every other setting applies to all.
MODE_SPECIFIC = ("variants", "reference", "max_trials", "space")
HYPERBAND_FACTOR = 3


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
    """

    name: str
    summary: str
    uses: frozenset[str]
    make_oracle: Callable[[StudySettings, object, OpenAfter | None], object]


# The variants whose comparison is still undecided after a look.
OpenAfter = Callable[[int], set[str]]


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
        ),
        Mode(
            "hyperband",
            "Hyperband over the search space, up to --epochs per trial",
            frozenset({"space"}),
            _hyperband_oracle,
        ),
    )
}
