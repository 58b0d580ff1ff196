"""Oracles: the grid of named variants, and Keras Tuner's for the wider searches."""

from __future__ import annotations

from collections.abc import Sequence

import keras_tuner as kt

from hypermodels.variants import Variant
from tuning.trials import VARIANT_KEY


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


MODES = ("grid", "random", "bayesian", "hyperband")
HYPERBAND_FACTOR = 3


def make_objective(name: str) -> kt.Objective:
    """A Keras Tuner objective: minimized for losses, maximized otherwise."""
    return kt.Objective(name, "min" if name.endswith("loss") else "max")


def make_oracle(
    mode: str,
    objective: str = "val_accuracy",
    variants: Sequence[Variant] = (),
    max_trials: int = 10,
    epochs: int = 10,
    seed: int | None = None,
) -> kt.Oracle:
    """Builds the oracle of a search mode.

    Args:
        mode: one of `MODES`.
        objective: the metric to optimize. Defaults to `val_accuracy`.
        variants: the grid's variants (grid mode).
        max_trials: trials of the random and Bayesian searches. Defaults to 10.
        epochs: Hyperband's largest epoch budget per trial. Defaults to 10.
        seed: the oracle's seed; Keras Tuner reads 0 as "none", so use >= 1.
    """
    goal = make_objective(objective)
    if mode == "grid":
        return VariantGridOracle(variants, objective=goal)
    if mode == "random":
        return kt.oracles.RandomSearchOracle(goal, max_trials=max_trials, seed=seed)
    if mode == "bayesian":
        return kt.oracles.BayesianOptimizationOracle(
            goal, max_trials=max_trials, seed=seed
        )
    if mode == "hyperband":
        return kt.oracles.HyperbandOracle(
            goal, max_epochs=epochs, factor=HYPERBAND_FACTOR, seed=seed
        )
    raise ValueError(f"Expected one of: {list(MODES)}. Received: {mode!r}")
