"""The oracle of the grid of named variants, in one round or in several."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import keras_tuner as kt

from hypermodels.variants import VARIANT_KEY, Variant
from tuning.rounds import ROUND_KEY, Schedule

TrialStatus = kt.engine.trial.TrialStatus


class VariantGridOracle(kt.Oracle):
    """Proposes each variant once, in order, even when two share their values.

    Keras Tuner's `GridSearch` neither runs duplicate configurations nor saves
    its position, so a resumed grid fails (keras-tuner issue 1055). This
    oracle derives its position from `start_order`, which the base `Oracle`
    saves, and leaves interrupted trials to the base class' retry queue.
    Each trial's values carry the variant's name under the `variant`
    hyperparameter, so trials are identifiable on disk and in TensorBoard.

    With a `schedule` of several looks (`--repeats auto`), each variant's
    round is a trial of its own (its `round` value), so that workers train
    a round's trials side by side. Round 1 is every variant; each later
    round is the variants `open_after` names once the round before has
    ended, and the reference, while any is named. Everything it decides is
    derived from the saved trials and their runs, so a resumed search goes
    on where it stopped.

    Args:
        variants: the variants to run, in order.
        reference: the variant the others are compared with.
        schedule: the looks of `--repeats auto`, or `None` for one round.
        open_after: the variants still undecided at a look (1-based).
        **kwargs: passed to `keras_tuner.Oracle` (for example `objective`).
    """

    def __init__(
        self,
        variants: Sequence[Variant],
        reference: str | None = None,
        schedule: Schedule | None = None,
        open_after: Callable[[int], set[str]] | None = None,
        **kwargs,
    ):
        rounds = schedule.looks if schedule else 1
        hyperparameters = kt.HyperParameters()
        hyperparameters.Choice(VARIANT_KEY, [v.name for v in variants])
        if rounds > 1:
            hyperparameters.Int(ROUND_KEY, 1, rounds)
        super().__init__(
            max_trials=len(variants) * rounds,
            hyperparameters=hyperparameters,
            **kwargs,
        )
        self.variants = tuple(variants)
        self.reference = reference
        self.rounds = rounds
        self.open_after = open_after
        self._members: dict[int, list[Variant]] = {1: list(self.variants)}

    def populate_space(self, trial_id: str) -> dict:
        if self.rounds == 1:
            position = len(self.start_order)
            if position >= len(self.variants):
                return {"status": TrialStatus.STOPPED, "values": None}
            return _proposal(self.variants[position], {})
        started = [self.trials[t].hyperparameters.values for t in self.start_order]
        current = max((values[ROUND_KEY] for values in started), default=1)
        position = sum(values[ROUND_KEY] == current for values in started)
        if position < len(self.members(current)):
            return _proposal(self.members(current)[position], {ROUND_KEY: current})
        if self.ongoing_trials:  # the round is not over: ask again later
            return {"status": TrialStatus.IDLE, "values": None}
        following = self.members(current + 1) if current < self.rounds else []
        if not following:
            return {"status": TrialStatus.STOPPED, "values": None}
        return _proposal(following[0], {ROUND_KEY: current + 1})

    def members(self, round_: int) -> list[Variant]:
        """The variants of round `round_`, once the one before has ended."""
        if round_ not in self._members:
            still_open = self.open_after(round_ - 1)
            self._members[round_] = [
                v
                for v in self.variants
                if v.name in still_open or (still_open and v.name == self.reference)
            ]
        return self._members[round_]


def _proposal(variant: Variant, extra: dict) -> dict:
    return {
        "status": TrialStatus.RUNNING,
        "values": {VARIANT_KEY: variant.name, **extra, **variant.hyperparameters()},
    }
