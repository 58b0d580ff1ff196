"""The study's settings: resolved once from the command line, read by every stage.

`StudySettings` flows CLI -> study -> tuner -> results -> reports and plots,
and is saved as `study.json` so that a resumed run can be checked against
it. The protocol constants (vocabulary, review length, batch size) are
defined here and nowhere else.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from tuning.errors import UsageError

# The notebook's protocol.
NUM_WORDS = 10_000
SEQUENCE_LENGTH = 256
BATCH_SIZE = 32

# Validation protocols.
TEST_AS_VALIDATION = "test-as-validation"
HOLDOUT_VALIDATION = "holdout-validation"

OBJECTIVES = ("val_accuracy", "val_loss", "accuracy", "loss")
BACKENDS = ("tensorflow", "jax", "torch")
# Measured on 2 cores: JAX trains this model faster than TensorFlow (README, Speed).
DEFAULT_BACKEND = "jax"
# `StudySettings.data` when the reviews come from Keras' download.
KERAS_DOWNLOAD = "keras.datasets.imdb"


@dataclasses.dataclass(frozen=True)
class StudySettings:
    """What a study runs with; a resumed run must match it.

    Attributes:
        mode: the search mode, a key of `tuning.modes.MODES`.
        variants: names of the grid variants, in order (grid mode).
        epochs: training epochs per trial (Hyperband: the most a trial gets).
        batch_size: training batch size.
        validation_split: fraction of the training reviews held out for
            validation (the test reviews are then evaluated once per run),
            or `None` to validate on the test reviews (the notebook's way).
        limit: reviews per split used, or `None` for all.
        data: absolute path of a local `imdb.npz`, or `KERAS_DOWNLOAD`.
        backend: the Keras backend that trains the models.
        objective: the metric the search optimizes; losses are minimized.
        max_trials: trials of a random or Bayesian search.
        seed: the study's seed: the oracle's, and the root of every
            training run's seed.
        early_stopping: `EarlyStopping` patience, or `None`.
        repeats: training runs per trial, each from its own seed; the
            objective the oracle sees is their mean.
        reference: the trial every other is compared with (grid mode: a
            variant name); `None` for the best trial.
        space: the search space (`hypermodels.space` format), or `None` for
            the grid's.
    """

    mode: str = "grid"
    variants: tuple[str, ...] = ()
    epochs: int = 10
    batch_size: int = BATCH_SIZE
    validation_split: float | None = None
    limit: int | None = None
    data: str = KERAS_DOWNLOAD
    backend: str = DEFAULT_BACKEND
    objective: str = "val_accuracy"
    max_trials: int | None = None
    seed: int | None = None
    early_stopping: int | None = None
    repeats: int = 1
    reference: str | None = None
    space: dict | None = None

    @property
    def protocol(self) -> str:
        """`HOLDOUT_VALIDATION` under a validation split, else `TEST_AS_VALIDATION`."""
        return HOLDOUT_VALIDATION if self.validation_split else TEST_AS_VALIDATION

    @property
    def data_path(self) -> Path | None:
        """The local `imdb.npz`, or `None` for Keras' download."""
        return None if self.data == KERAS_DOWNLOAD else Path(self.data)

    @property
    def higher_is_better(self) -> bool:
        """Whether a larger objective is better (losses are minimized)."""
        return not self.objective.endswith("loss")

    def to_json(self) -> str:
        """The settings, plus the derived protocol for readers of `study.json`."""
        return json.dumps(
            {**dataclasses.asdict(self), "protocol": self.protocol}, indent=2
        )

    @classmethod
    def from_json(cls, text: str, source: str = "study.json") -> StudySettings:
        """Reads `to_json`'s output.

        Raises:
            UsageError: if `text` is not settings this version wrote.
        """
        fields = {field.name for field in dataclasses.fields(cls)}
        try:
            values = json.loads(text)
            values.pop("protocol", None)
            unknown = sorted(set(values) - fields)
            if unknown:
                raise ValueError(f"unknown settings {unknown}")
            values["variants"] = tuple(values.get("variants", ()))
            return cls(**values)
        except (ValueError, TypeError, AttributeError) as e:
            raise UsageError(
                f"{source} is not readable study settings ({e}). Pass --overwrite "
                "to start the run afresh, or choose another --run-name."
            ) from None

    def differences(self, other: StudySettings) -> list[str]:
        """Names the settings (other than the backend) that differ from `other`."""
        mine, theirs = dataclasses.asdict(self), dataclasses.asdict(other)
        return [k for k in mine if k != "backend" and mine[k] != theirs[k]]
