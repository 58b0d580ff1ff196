"""The search space, as data: which values each hyperparameter may take.

A space maps each hyperparameter name to one of:

- a list of values: a `Choice`, e.g. `["relu", "tanh"]`;
- a range, `{"min": 16, "max": 256, "sampling": "log"}`: an `Int` (for
  integer hyperparameters) or `Float`; `sampling` is `linear` (default) or
  `log`;
- for `dropout` and `l2`, either of those plus `"off": true`, which lets a
  trial go without the layer or regularizer; `{"off": true}` alone means
  always off. Whether it is on is the boolean hyperparameter `dropout_on`
  (`l2_on`), and the rate is only recorded for trials that have it.

`WIDE_SPACE` is the default of the random, Bayesian and Hyperband searches; a
JSON file in this format (`--space FILE`) replaces any of its entries.
`dimensions` is the one reading of the format: `declare` turns its result
into Keras Tuner hyperparameters, and importance assesses it, without Keras.
"""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

LOSSES = ("binary_crossentropy", "mse")
ACTIVATIONS = ("relu", "tanh", "gelu", "elu")
INTEGER = ("hidden_layers", "units", "embedding_dim")
REAL = ("learning_rate", "dropout", "l2")
CATEGORICAL = {"activation": ACTIVATIONS, "loss": LOSSES}
OPTIONAL = ("dropout", "l2")  # may be "off"
NAMES = (*INTEGER, *REAL, *CATEGORICAL)

WIDE_SPACE: dict[str, object] = {
    "hidden_layers": {"min": 1, "max": 4},
    "units": {"min": 16, "max": 256, "sampling": "log"},
    "activation": list(ACTIVATIONS),
    "loss": list(LOSSES),
    "dropout": {"min": 0.0, "max": 0.6, "off": True},
    "l2": {"min": 1e-6, "max": 1e-2, "sampling": "log", "off": True},
    "learning_rate": {"min": 1e-4, "max": 1e-2, "sampling": "log"},
    "embedding_dim": {"min": 16, "max": 128},
}


class SpaceError(ValueError):
    """A search space file or entry that is not valid."""


@dataclasses.dataclass(frozen=True)
class Dimension:
    """One hyperparameter a space declares, as Keras Tuner records it.

    Attributes:
        name: e.g. `learning_rate`, or `dropout_on` for a rate's switch.
        choices: a choice's values, or `None` for a range.
        low, high: a range's bounds.
        log: whether the range is sampled on a log scale.
        integer: whether its values are integers.
        condition: the switch that must be on for this one to exist
            (`dropout_on` for `dropout`), or `None`.
        switch: whether it is an off-able rate's switch (a Keras Tuner
            `Boolean`, its choices `False` and `True`).
    """

    name: str
    choices: tuple | None = None
    low: float | None = None
    high: float | None = None
    log: bool = False
    integer: bool = False
    condition: str | None = None
    switch: bool = False

    @property
    def scale(self) -> str:
        """`choice`, `log` or `linear`."""
        if self.choices is not None:
            return "choice"
        return "log" if self.log else "linear"


def dimensions(space: dict) -> list[Dimension]:
    """The hyperparameters `space` declares, in its order: the one reading of
    the format. An off-able rate is its switch, `<name>_on`, and the rate
    conditional on it; an always-off rate declares none."""
    found = []
    for name, spec in space.items():
        if name in OPTIONAL and isinstance(spec, dict) and spec.get("off"):
            if "values" not in spec and "min" not in spec:
                continue
            switch = _switch(name)
            found.append(Dimension(switch, choices=(False, True), switch=True))
            found.append(_dimension(name, spec, condition=switch))
        else:
            found.append(_dimension(name, spec))
    return found


def _switch(name: str) -> str:
    """The name of an off-able rate's switch."""
    return f"{name}_on"


def _dimension(name: str, spec, condition: str | None = None) -> Dimension:
    if isinstance(spec, list) or "values" in spec:
        values = spec if isinstance(spec, list) else spec["values"]
        return Dimension(name, choices=tuple(values), condition=condition)
    return Dimension(
        name,
        low=spec["min"],
        high=spec["max"],
        log=spec.get("sampling") == "log",
        integer=name in INTEGER,
        condition=condition,
    )


def optional_values(name: str, rate: float) -> dict[str, bool | float]:
    """How an optional rate is recorded: `<name>_on`, and the rate only when on.

    A rate of 0 means off (no `Dropout` layer, no L2 regularizer).
    """
    return {_switch(name): bool(rate), **({name: rate} if rate else {})}


def optional_entry(rates) -> dict:
    """The space entry of an optional rate that takes `rates` (0 meaning off)."""
    on = list(dict.fromkeys(rate for rate in rates if rate))
    return {"values": on, "off": True} if on else {"off": True}


def declare(hp, space: dict) -> dict[str, object]:
    """Declares `space`'s `dimensions` on `hp`, a `keras_tuner.HyperParameters`;
    returns each entry's value in this trial, an off-able rate 0 when off.

    A rate is declared under `hp.conditional_scope` of its switch, entered
    even when off so that Keras Tuner learns the condition; a trial without
    the rate records none.
    """
    values: dict[str, object] = {name: 0.0 for name in space}  # always off: 0
    for dimension in dimensions(space):
        if dimension.condition is None:
            values[dimension.name] = _declare(hp, dimension)
            continue
        with hp.conditional_scope(dimension.condition, [True]):
            rate = _declare(hp, dimension)
        values[dimension.name] = rate if values.pop(dimension.condition) else 0.0
    return values


def _declare(hp, dimension: Dimension):
    name = dimension.name
    if dimension.switch:
        return hp.Boolean(name)
    if dimension.choices is not None:
        return hp.Choice(name, list(dimension.choices))
    sampling = "log" if dimension.log else "linear"
    if dimension.integer:
        return hp.Int(name, dimension.low, dimension.high, sampling=sampling)
    return hp.Float(name, dimension.low, dimension.high, sampling=sampling)


# Bytes per parameter while training: float32 weights, gradients and Adam's
# two moments, plus a copy for the donated step state.
TRAINING_BYTES_PER_PARAMETER = 4 * 5


def largest_value(spec) -> float:
    """The largest value a space entry allows (0 for an always-off rate)."""
    if isinstance(spec, list):
        return max(spec)
    if "values" in spec:
        return max(spec["values"])
    return spec.get("max", 0)


def largest_model_bytes(space: dict, vocab_size: int) -> int:
    """Memory to train the largest model of `space`: its parameters times
    `TRAINING_BYTES_PER_PARAMETER` (activations are small beside them)."""
    embedding = largest_value(space["embedding_dim"])
    units = largest_value(space["units"])
    layers = largest_value(space["hidden_layers"])
    parameters = (
        vocab_size * embedding
        + (embedding + 1) * units
        + (layers - 1) * (units + 1) * units
        + units
        + 1
    )
    return int(parameters * TRAINING_BYTES_PER_PARAMETER)


def load_space(path: str | Path) -> dict[str, object]:
    """Reads a JSON space file over `WIDE_SPACE` and validates the result.

    Raises:
        SpaceError: if the file is not JSON or an entry is invalid.
    """
    try:
        overrides = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise SpaceError(f"cannot read space file {str(path)!r}: {e}") from None
    if not isinstance(overrides, dict):
        raise SpaceError(f"space file {str(path)!r} must hold a JSON object")
    space = {**WIDE_SPACE, **overrides}
    validate_space(space)
    return space


def validate_space(space: dict) -> None:
    """Checks every entry of `space`; raises `SpaceError` naming the first bad one."""
    unknown = sorted(set(space) - set(NAMES))
    if unknown:
        raise SpaceError(f"unknown hyperparameter(s) {unknown}; expected {list(NAMES)}")
    for name, spec in space.items():
        _validate_entry(name, spec)


def _validate_entry(name: str, spec) -> None:
    if name in CATEGORICAL:
        allowed = CATEGORICAL[name]
        if not isinstance(spec, list) or not spec or set(spec) - set(allowed):
            raise SpaceError(
                f"{name}: expected a non-empty list from {list(allowed)}, "
                f"received {spec!r}"
            )
        return
    if isinstance(spec, list):
        spec = {"values": spec}
    if not isinstance(spec, dict):
        raise SpaceError(f"{name}: expected a list or an object, received {spec!r}")
    keys = set(spec) - {"min", "max", "sampling", "values", "off"}
    if keys or ("off" in spec and name not in OPTIONAL):
        raise SpaceError(f"{name}: unexpected key(s) {sorted(keys) or ['off']}")
    values = spec.get("values")
    if values is not None:
        _check_values(name, values)
    elif "min" in spec or "max" in spec:
        _check_range(name, spec)
    elif not spec.get("off"):
        raise SpaceError(f"{name}: give values, or min and max")


def _check_values(name: str, values) -> None:
    kind = int if name in INTEGER else (int, float)
    if (
        not isinstance(values, list)
        or not values
        or not all(isinstance(v, kind) and not isinstance(v, bool) for v in values)
    ):
        raise SpaceError(
            f"{name}: expected a non-empty list of numbers, received {values!r}"
        )
    for value in values:
        _check_bounds(name, value)


def _check_range(name: str, spec: dict) -> None:
    low, high = spec.get("min"), spec.get("max")
    kind = int if name in INTEGER else (int, float)
    if not (isinstance(low, kind) and isinstance(high, kind) and low <= high):
        raise SpaceError(f"{name}: expected numbers min <= max, received {spec!r}")
    sampling = spec.get("sampling", "linear")
    if sampling not in ("linear", "log"):
        raise SpaceError(
            f"{name}: sampling must be 'linear' or 'log', received {sampling!r}"
        )
    if sampling == "log" and low <= 0:
        raise SpaceError(f"{name}: log sampling needs min > 0, received {low!r}")
    _check_bounds(name, low)
    _check_bounds(name, high)


def _check_bounds(name: str, value) -> None:
    if name == "dropout" and not 0 <= value < 1:
        raise SpaceError(f"dropout: rates must be in [0, 1), received {value!r}")
    if name != "dropout" and (value <= 0 or not math.isfinite(value)):
        raise SpaceError(f"{name}: values must be positive, received {value!r}")
