"""The oracle of the grid of named variants."""

from __future__ import annotations

from collections.abc import Sequence

import keras_tuner as kt

from hypermodels.variants import VARIANT_KEY, Variant


class VariantGridOracle(kt.Oracle):
    """Proposes each variant once, in order, even when two share their values.

    Keras Tuner's `GridSearch` neither runs duplicate configurations nor saves
    its position, so a resumed grid fails (keras-tuner issue 1055). This
    oracle derives its position from `start_order`, which the base `Oracle`
    saves, and leaves interrupted trials to the base class' retry queue.
    Each trial's values carry the variant's name under the `variant`
    hyperparameter, so trials are identifiable on disk and in TensorBoard.

    Args:
        variants: the variants to run, in order.
        **kwargs: passed to `keras_tuner.Oracle` (for example `objective`).
    """

    def __init__(self, variants: Sequence[Variant], **kwargs):
        hyperparameters = kt.HyperParameters()
        hyperparameters.Choice(VARIANT_KEY, [v.name for v in variants])
        super().__init__(
            max_trials=len(variants), hyperparameters=hyperparameters, **kwargs
        )
        self.variants = tuple(variants)

    def populate_space(self, trial_id: str) -> dict:
        position = len(self.start_order)
        if position >= len(self.variants):
            return {"status": kt.engine.trial.TrialStatus.STOPPED, "values": None}
        variant = self.variants[position]
        return {
            "status": kt.engine.trial.TrialStatus.RUNNING,
            "values": {VARIANT_KEY: variant.name, **variant.hyperparameters()},
        }
