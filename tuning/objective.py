"""The study's objective: the one metric every stage optimizes, ranks and marks.

The oracle, the checkpoint, early stopping, the TensorBoard callbacks, the
analysis, the figures and the best model all take `StudySettings.objective`,
so that `--objective val_loss` changes every output at once.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence

# The model's metrics; a Keras `fit` history records each on the training
# reviews, then with `val_` on the validation reviews (the tables' order).
METRICS = ("loss", "accuracy")
HISTORY_METRICS = (*METRICS, *(f"val_{metric}" for metric in METRICS))
# The metrics `--objective` accepts: every one, the validation ones first.
OBJECTIVES = tuple(reversed(HISTORY_METRICS))


@dataclasses.dataclass(frozen=True)
class Objective:
    """A metric and its direction, as `keras_tuner.Objective` has them.

    Keras Tuner's own class imports Keras; this one does not, so that the
    settings, the analysis and the figures can hold it while `--help` and
    `python -m tuning.plot` answer without loading Keras.
    `to_keras_tuner` hands the oracle the same objective.

    Attributes:
        name: the history key it reads, e.g. `val_loss`.
        direction: `"max"` or `"min"`.
    """

    name: str
    direction: str

    @classmethod
    def named(cls, name: str) -> Objective:
        """The objective of metric `name`: losses are minimized, the rest
        maximized (Keras Tuner's `create_objective` rule)."""
        return cls(name, "min" if name.endswith("loss") else "max")

    @property
    def higher_is_better(self) -> bool:
        return self.direction == "max"

    @property
    def bounds(self) -> tuple[float, float]:
        """The values the metric can take: an accuracy's 0 to 1, a loss's 0
        and up."""
        return (0.0, math.inf) if self.name.endswith("loss") else (0.0, 1.0)

    def best(self, values: Sequence[float]) -> float:
        """The best of `values`."""
        return max(values) if self.higher_is_better else min(values)

    def best_index(self, values: Sequence[float]) -> int:
        """The 0-based position of the best of `values`; the first on ties,
        as `keras.callbacks.ModelCheckpoint(save_best_only=True)` keeps it."""
        return list(values).index(self.best(values))

    def gain(self, difference: float) -> float:
        """`difference` signed so that a positive gain is an improvement."""
        return difference if self.higher_is_better else -difference

    def to_keras_tuner(self):
        """The same objective as a `keras_tuner.Objective` (imports Keras)."""
        import keras_tuner as kt

        return kt.Objective(self.name, self.direction)

    def __str__(self) -> str:
        return self.name
