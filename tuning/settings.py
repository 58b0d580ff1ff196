"""The study's settings, and the one function that resolves them.

`resolve_settings` turns the parsed flags, the environment and the saved
`study.json` of a resumed run into one `StudySettings`, every default
filled in. It is pure: it reads no file and no clock, so every rule about
defaults is here and testable. The settings then travel through every
stage, and `study.json` keeps them for a resumed run, the workers and the
stand-alone commands. The protocol constants (vocabulary, review length,
batch size) are defined here and nowhere else.

Adding a setting: a field of `StudySettings`, its flag in `tuning.search`,
and, if only some modes use it, its name in `tuning.modes.MODE_SPECIFIC`,
its default in `DEFAULTS_WHEN_USED` and the modes' `uses`.
"""

from __future__ import annotations

import dataclasses
import json
import os
import types
import typing
from collections.abc import Mapping
from pathlib import Path

from tuning.errors import UsageError
from tuning.modes import MODE_SPECIFIC, MODES, Mode
from tuning.objective import OBJECTIVES, Objective
from tuning.rounds import Schedule, first_look

# The notebook's protocol.
NUM_WORDS = 10_000
SEQUENCE_LENGTH = 256
BATCH_SIZE = 32

# Validation protocols.
TEST_AS_VALIDATION = "test-as-validation"
HOLDOUT_VALIDATION = "holdout-validation"

BACKENDS = ("tensorflow", "jax", "torch")
# JAX trains this model fastest on CPU (benchmarks/README.md).
DEFAULT_BACKEND = "jax"
# `StudySettings.data` when the reviews come from Keras' download.
KERAS_DOWNLOAD = "keras.datasets.imdb"
# Environment variables that stand in for a flag left out.
DATA_ENV_VAR = "IMDB_DATA"
BACKEND_ENV_VAR = "KERAS_BACKEND"
# The grid's reference when its variants include it.
DEFAULT_REFERENCE = "Baseline"
# The smallest difference that matters, per objective, when --margin is not
# given: about three times the spread of a run's best value over seeds on
# the full data (sd 0.0017 in accuracy, 0.0033 in loss; docs/statistics.md),
# which no single run can tell apart.
DEFAULT_MARGINS = {
    "val_accuracy": 0.005,
    "accuracy": 0.005,
    "val_loss": 0.01,
    "loss": 0.01,
}
# Runs of a trial trained together on a CPU, without --runs-at-once; on a
# GPU, all of them (benchmarks/README.md).
CPU_RUNS_AT_ONCE = 1
# `--repeats auto` without --max-repeats: runs per trial at most.
DEFAULT_MAX_REPEATS = 12


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
        objective: what the search optimizes, and every output ranks by.
        max_trials: trials of a random or Bayesian search.
        seed: the study's seed: the oracle's, and the root of every
            training run's seed.
        early_stopping: `EarlyStopping` patience, or `None`.
        repeats: training runs per trial, each from its own seed; the
            objective the oracle sees is their mean. With `max_repeats`,
            the runs of the first round (`tuning.rounds`).
        max_repeats: with `--repeats auto`, the most runs a trial gets;
            `None` for a fixed number of runs.
        margin: D, the smallest difference in the objective that matters;
            `None` for the objective's default (`DEFAULT_MARGINS`).
        reference: the trial every other is compared with (grid mode: a
            variant name); `None` for the best trial.
        space: the search space (`hypermodels.space` format), or `None` for
            the grid's.
        runs_at_once: the most runs of a trial trained together as one
            program (JAX; `tuning.grouped`), or `None` for the device's
            default.
        common_seeds: whether run k of every trial trains from the same
            seed (common random numbers), so that comparisons pair runs of
            one seed (`tuning.verdicts`); studies saved before it existed
            trained each run from a seed of its own.
    """

    mode: str = "grid"
    variants: tuple[str, ...] = ()
    epochs: int = 10
    batch_size: int = BATCH_SIZE
    validation_split: float | None = None
    limit: int | None = None
    data: str = KERAS_DOWNLOAD
    backend: str = DEFAULT_BACKEND
    objective: Objective = Objective.named("val_accuracy")
    max_trials: int | None = None
    seed: int | None = None
    early_stopping: int | None = None
    repeats: int = 1
    max_repeats: int | None = None
    margin: float | None = None
    reference: str | None = None
    space: dict | None = None
    runs_at_once: int | None = None
    common_seeds: bool = True

    def __post_init__(self):
        if self.margin is None:  # the objective's default
            object.__setattr__(self, "margin", DEFAULT_MARGINS[self.objective.name])

    @property
    def gives_verdicts(self) -> bool:
        """Whether its trials train two or more runs each, so that a
        comparison has an interval and a verdict (`--repeats auto` starts
        with `tuning.rounds.first_look`)."""
        return self.repeats > 1

    @property
    def protocol(self) -> str:
        """`HOLDOUT_VALIDATION` under a validation split, else `TEST_AS_VALIDATION`."""
        return HOLDOUT_VALIDATION if self.validation_split else TEST_AS_VALIDATION

    @property
    def protocol_description(self) -> str:
        """One phrase saying what the validation metrics were measured on."""
        if self.validation_split is None:
            return "validation = the test reviews, every epoch (notebook protocol)"
        return (
            f"validation = {self.validation_split:g} of the training reviews "
            "held out; test reviews evaluated once per trial"
        )

    def schedule(self, comparisons: int | None = None) -> Schedule:
        """The runs at each look, for a study of `comparisons` comparisons.
        Defaults to the grid's: every variant but the reference."""
        if comparisons is None:
            comparisons = len(self.variants) - 1
        if self.max_repeats:
            return Schedule.adaptive(self.max_repeats, comparisons, self.common_seeds)
        return Schedule.fixed(self.repeats, comparisons, self.common_seeds)

    def runs_of(self, round_: int | None, reference: bool) -> range:
        """The runs a trial trains, by index: all `repeats`; with `--repeats
        auto`, those its round adds to its variant's (`reference`: whether
        it is the reference's)."""
        if round_ is None:
            return range(self.repeats)
        return self.schedule().runs_of_round(round_, reference)

    @property
    def search_mode(self) -> Mode:
        """The `Mode` named `mode`: what its trials are and what it allows."""
        return MODES[self.mode]

    @property
    def data_path(self) -> Path | None:
        """The local `imdb.npz`, or `None` for Keras' download."""
        return None if self.data == KERAS_DOWNLOAD else Path(self.data)

    def to_json(self) -> str:
        """The settings, plus the derived protocol for readers of `study.json`."""
        values = {**dataclasses.asdict(self), "objective": self.objective.name}
        return json.dumps({**values, "protocol": self.protocol}, indent=2)

    @classmethod
    def from_json(cls, text: str, source: str) -> StudySettings:
        """Reads `to_json`'s output, from `source` (named in the error).

        Raises:
            UsageError: if `text` is not settings this version wrote.
        """
        fields = {field.name for field in dataclasses.fields(cls)}
        try:
            values = json.loads(text)
            values.pop("protocol", None)
            values.setdefault("common_seeds", False)  # saved before it existed
            unknown = sorted(set(values) - fields)
            if unknown:
                raise ValueError(f"unknown settings {unknown}")
            _check_types(values)
            values["variants"] = tuple(values.get("variants", ()))
            if "objective" in values:
                values["objective"] = Objective.named(values["objective"])
            return cls(**values)
        except (ValueError, TypeError, AttributeError) as e:
            raise UsageError(
                f"{source} is not readable study settings ({e}). Pass --overwrite "
                "to start the run afresh, or choose another --run-name."
            ) from None

    def differences(self, other: StudySettings) -> list[str]:
        """Names the settings that differ from `other`, but for those that
        say how runs train rather than what they are (`HOW_RUNS_TRAIN`)."""
        mine, theirs = dataclasses.asdict(self), dataclasses.asdict(other)
        return [k for k in mine if k not in HOW_RUNS_TRAIN and mine[k] != theirs[k]]


# Settings that a resumed run may change: what a run learns does not depend
# on them beyond float rounding (docs/architecture.md).
HOW_RUNS_TRAIN = ("backend", "runs_at_once")


# The values a saved setting may take beyond its type.
_CHOICES = {
    "mode": lambda: MODES,
    "backend": lambda: BACKENDS,
    "objective": lambda: OBJECTIVES,
}


def _check_types(values: dict) -> None:
    """Refuses saved settings whose values are not of their field's type
    (JSON has lists for tuples, and the objective's name), or not among a
    setting's choices.

    Raises:
        ValueError: naming the first setting that is wrong.
    """
    hints = typing.get_type_hints(StudySettings)
    hints.update(variants=list[str], objective=str)
    for name, value in values.items():
        if not _is_a(value, hints[name]):
            kind = getattr(hints[name], "__name__", hints[name])
            raise ValueError(f"{name} {value!r} is not a {kind}")
        if name in _CHOICES and value not in _CHOICES[name]():
            raise ValueError(f"unknown {name} {value!r}")


def _is_a(value, hint) -> bool:
    origin, arguments = typing.get_origin(hint), typing.get_args(hint)
    if origin in (types.UnionType, typing.Union):
        return any(_is_a(value, argument) for argument in arguments)
    if hint is type(None):
        return value is None
    if hint is float:
        return type(value) in (int, float)
    if origin is list:
        return isinstance(value, list) and all(_is_a(v, arguments[0]) for v in value)
    if hint is int:
        return type(value) is int  # not a bool
    return isinstance(value, origin or hint)


def _all_variants() -> tuple[str, ...]:
    from hypermodels.variants import VARIANTS

    return tuple(v.name for v in VARIANTS)


def _wide_space() -> dict:
    from hypermodels.space import WIDE_SPACE

    return WIDE_SPACE


# The defaults of the `MODE_SPECIFIC` settings in the modes that use them.
DEFAULTS_WHEN_USED = {
    "variants": _all_variants,
    "max_trials": lambda: 10,
    "space": _wide_space,
    "reference": lambda: None,  # see `_reference`
}


def resolve_settings(
    flags: Mapping[str, object],
    saved: StudySettings | None = None,
    environment: Mapping[str, str] = os.environ,
    fresh_seed: int = 1,
) -> StudySettings:
    """The study's settings, every default filled in.

    A flag left out (`None`) takes its default: the environment's for
    `--data` and `--backend`, the resumed run's seed for `--seed` (else
    `fresh_seed`), the mode's for a setting only it uses, else the
    field's default in `StudySettings`.

    Args:
        flags: setting name -> the flag's value, `None` where not given
            (`vars()` of `tuning.search`'s parsed arguments).
        saved: the settings of the run being resumed, if any.
        environment: where `$IMDB_DATA` and `$KERAS_BACKEND` are read.
            Defaults to the process' environment.
        fresh_seed: the seed of a new study given none.

    Raises:
        UsageError: for a flag the mode does not use, or an unknown or
            unrun reference.
    """
    mode = MODES[flags.get("mode") or StudySettings.mode]
    _refuse_unused(flags, mode)
    values = {}
    for field in dataclasses.fields(StudySettings):
        given = flags.get(field.name)
        if field.name in MODE_SPECIFIC:
            used = field.name in mode.uses
            given = (given or DEFAULTS_WHEN_USED[field.name]()) if used else None
        values[field.name] = field.default if given is None else given
    # A resumed study keeps how its runs were seeded.
    values["common_seeds"] = saved.common_seeds if saved else True
    if values["repeats"] == "auto":
        most = values["max_repeats"] or DEFAULT_MAX_REPEATS
        first = first_look(most, values["common_seeds"])
        values.update(repeats=first, max_repeats=most)
    elif values["max_repeats"] is not None:
        raise UsageError(
            "--max-repeats applies to --repeats auto only. Add --repeats auto, "
            "or drop it."
        )
    if values["max_repeats"] and not mode.fixes_reference:
        fixing = "/".join(m.name for m in MODES.values() if m.fixes_reference)
        raise UsageError(
            f"--repeats auto needs a reference fixed before the runs: --mode "
            f"{fixing} (--mode {mode.name} compares with its best trial, chosen "
            "from the runs). Pass --repeats K instead."
        )
    data = flags.get("data") or environment.get(DATA_ENV_VAR)
    saved_seed = saved.seed if saved else None
    values.update(
        mode=mode.name,
        variants=tuple(values["variants"] or ()),
        data=os.path.abspath(os.path.expanduser(data)) if data else KERAS_DOWNLOAD,
        backend=flags.get("backend")
        or environment.get(BACKEND_ENV_VAR)
        or DEFAULT_BACKEND,
        objective=Objective.named(str(values["objective"])),
        seed=next(
            s for s in (flags.get("seed"), saved_seed, fresh_seed) if s is not None
        ),
    )
    if mode.fixes_reference:
        values["reference"] = _reference(flags.get("reference"), values["variants"])
    if values["max_repeats"] and len(values["variants"]) < 2:
        raise UsageError(
            "--repeats auto adds runs where a comparison with the reference is "
            f"undecided, and --variants {','.join(values['variants'])} has nothing "
            "to compare. Pass two or more --variants, or --repeats K."
        )
    _check_margin(flags.get("margin"), values["objective"])
    _check_one_loss(values)
    if (values["runs_at_once"] or 1) > 1 and values["backend"] != "jax":
        raise UsageError(
            f"--runs-at-once {values['runs_at_once']} needs the JAX backend (runs "
            f"train together through jax.vmap); --backend {values['backend']} "
            "trains one at a time. Drop it, or pass --backend jax."
        )
    return StudySettings(**values)


def _check_one_loss(values: dict) -> None:
    """Refuses a loss objective where trials train different losses: a mean
    squared error and a cross-entropy are two measures, not one."""
    objective = values["objective"]
    losses = _trained_losses(values)
    if objective.name.endswith("loss") and len(losses) > 1:
        raise UsageError(
            f"--objective {objective.name} would compare {' with '.join(losses)}: "
            "the trials train with different losses, which measure differently. "
            "Pass --objective val_accuracy, or train one loss (--variants without "
            "MSE Loss, or a --space with one loss)."
        )


def _trained_losses(values: dict) -> list[str]:
    """The losses a study's trials may train with."""
    from hypermodels.variants import VARIANTS_BY_NAME, Variant

    if MODES[values["mode"]].trains_variants:
        return list(dict.fromkeys(VARIANTS_BY_NAME[v].loss for v in values["variants"]))
    entry = (values["space"] or {}).get("loss", Variant.loss)
    return list(dict.fromkeys(entry if isinstance(entry, list) else [entry]))


def _check_margin(margin: float | None, objective: Objective) -> None:
    low, high = objective.bounds
    if margin is not None and margin >= high - low:
        default = DEFAULT_MARGINS[objective.name]
        raise UsageError(
            f"--margin {margin:g} is as wide as {objective.name} can differ "
            f"({low:g} to {high:g}): every comparison would be equivalent. Pass "
            f"a margin under {high - low:g} (default {default:g})."
        )


def _refuse_unused(flags: Mapping[str, object], mode) -> None:
    unused = [n for n in MODE_SPECIFIC if flags.get(n) and n not in mode.uses]
    if unused:
        names = ", ".join("--" + name.replace("_", "-") for name in unused)
        users = sorted(m.name for m in MODES.values() if unused[0] in m.uses)
        raise UsageError(
            f"{names} does not apply to --mode {mode.name}; it is for --mode "
            f"{'/'.join(users)}. Drop it or choose that mode."
        )


def _reference(name: str | None, variants: tuple[str, ...]) -> str:
    """The grid's reference variant: `name`, else Baseline, else the first run."""
    if name is None:
        return DEFAULT_REFERENCE if DEFAULT_REFERENCE in variants else variants[0]
    if name not in variants:
        known = "unknown" if name not in _all_variants() else "not among --variants"
        raise UsageError(
            f"--reference {name!r} is {known}. Expected one of: {list(variants)}."
        )
    return name
