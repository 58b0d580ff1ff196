"""The nine model variants of the original study, defined once as data.

The grid search, its space, the reports and the tests all read `VARIANTS`;
nothing else spells out a variant's hyperparameters. A tenth variant is one
more line in `VARIANTS`.
"""

from __future__ import annotations

import dataclasses

from hypermodels.space import OPTIONAL, optional_entry, optional_values

# The grid's hyperparameter that carries a trial's variant name.
VARIANT_KEY = "variant"


@dataclasses.dataclass(frozen=True)
class Variant:
    """One named point of the search space.

    Attributes:
        name: the label used for trials, TensorBoard runs, tables and plots.
        hidden_layers: number of `Dense` layers between pooling and output.
        units: width of each hidden layer.
        activation: activation of each hidden layer.
        loss: training loss, a Keras loss name.
        dropout: rate of the `Dropout` after each hidden layer; 0 means off.
        l2: L2 kernel-regularization factor of each hidden layer; 0 means off.
        learning_rate: Adam's learning rate (Keras' default).
        embedding_dim: width of the word embedding.
    """

    name: str
    hidden_layers: int = 2
    units: int = 64
    activation: str = "relu"
    loss: str = "binary_crossentropy"
    dropout: float = 0.0
    l2: float = 0.0
    learning_rate: float = 0.001
    embedding_dim: int = 64

    def hyperparameters(self) -> dict[str, bool | int | float | str]:
        """Returns the values keyed by hyperparameter name.

        Dropout and L2 are recorded as `dropout_on` / `l2_on`, with the rate
        only when on, as `hypermodels.SentimentHyperModel` declares them.
        """
        values = dataclasses.asdict(self)
        del values["name"]
        for name in OPTIONAL:
            values.update(optional_values(name, values.pop(name)))
        return values


BASELINE = Variant("Baseline")

# In the study's order. "64 Units" repeats Baseline on purpose: the pair
# measures run-to-run noise.
VARIANTS: tuple[Variant, ...] = (
    BASELINE,
    dataclasses.replace(BASELINE, name="1 Hidden Layer", hidden_layers=1),
    dataclasses.replace(BASELINE, name="3 Hidden Layers", hidden_layers=3),
    dataclasses.replace(BASELINE, name="32 Units", units=32),
    dataclasses.replace(BASELINE, name="64 Units", units=64),
    dataclasses.replace(BASELINE, name="MSE Loss", loss="mse"),
    dataclasses.replace(BASELINE, name="Tanh Activation", activation="tanh"),
    dataclasses.replace(BASELINE, name="Dropout", dropout=0.5),
    dataclasses.replace(BASELINE, name="L2 Regularization", l2=0.001),
)

VARIANTS_BY_NAME: dict[str, Variant] = {v.name: v for v in VARIANTS}


def grid_space(variants: tuple[Variant, ...] = VARIANTS) -> dict[str, object]:
    """The space the variants span: each hyperparameter's values, Baseline's first."""
    names = [field.name for field in dataclasses.fields(Variant)][1:]
    space: dict[str, object] = {
        name: list(dict.fromkeys(getattr(v, name) for v in variants)) for name in names
    }
    for name in OPTIONAL:
        space[name] = optional_entry(space[name])
    return space
