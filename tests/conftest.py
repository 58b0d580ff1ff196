"""Shared fixtures and helpers: the real IMDB data from ../shared/data, small
fabricated trials, one small grid run, and the checks every command's
errors must pass."""

from __future__ import annotations

import csv
import dataclasses
import json
import math
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest

# The tool's default backend, set before any test imports Keras.
os.environ.setdefault("KERAS_BACKEND", "jax")
# Decoded data goes to a cache of this session's, not the user's.
os.environ.setdefault("IMDB_TUNE_CACHE", tempfile.mkdtemp(prefix="imdb-tune-cache-"))

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO.parent / "shared" / "data" / "imdb.npz"
# Where Keras downloads the dataset from (keras.datasets.imdb).
KERAS_ORIGIN = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/"


def read_csv(path) -> list[dict]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def one_line_error(status: int, err: str, pattern: str) -> None:
    """Checks a command's refusal: status 2 and one line naming `pattern`."""
    lines = err.strip().splitlines()
    assert status == 2, lines
    assert len(lines) == 1 and lines[0].startswith("error: "), lines
    assert pattern in lines[0], lines[0]


def run_search(argv: list[str], logdir: Path, capsys) -> tuple[int, str]:
    """`python -m tuning.search ARGV --logdir LOGDIR -q` in this process."""
    from tuning import search

    status = search.main([*argv, "--logdir", str(logdir), "-q"])
    return status, capsys.readouterr().err


def run_with_fault(fault: list[str], module: str, argv: list[str], **kwargs):
    """Runs `python -m MODULE ARGV` in a child process with `fault` injected
    at its named point (`tests/faults.py`); returns the finished process."""
    command = [sys.executable, "-m", "tests.faults", *fault, "--", module, *argv]
    return subprocess.run(command, cwd=REPO, capture_output=True, text=True, **kwargs)


def tiny_npz(path: Path, y_train=(1, 0, 1, 0), x_train=None, word_index=True) -> Path:
    """A small Keras-format imdb.npz (word ranks from 1), and its word index."""
    reviews = np.empty(4, dtype=object)
    for i in range(4):
        reviews[i] = [1 + i, 5, 9, 2 + i]
    x_train = reviews if x_train is None else x_train
    np.savez(
        path, x_train=x_train, y_train=np.array(y_train), x_test=reviews,
        y_test=np.array([0, 1, 0, 1]),
    )  # fmt: skip
    if word_index:
        words = {f"w{rank}": rank for rank in range(1, 12)}
        path.with_name("imdb_word_index.json").write_text(json.dumps(words))
    return path


def fabricated_history(val_accuracy, shift=0.0) -> dict[str, list[float]]:
    """A Keras history with these validation accuracies, each plus `shift`;
    the validation loss falls as the epochs go, minus `shift`."""
    epochs = len(val_accuracy)
    return {
        "epoch": list(range(epochs)),
        "accuracy": [0.5 + 0.1 * e for e in range(epochs)],
        "loss": [1.0 - 0.1 * e for e in range(epochs)],
        "val_accuracy": [v + shift for v in val_accuracy],
        "val_loss": [0.9 - 0.05 * e - shift for e in range(epochs)],
    }


def fabricated_trial(label, val_accuracy, repeats=1, status="COMPLETED", shifts=None):
    """A trial whose runs share `val_accuracy`, run k shifted by `shifts[k]`."""
    from tuning.records import RunRecord, TrialRecord

    shifts = shifts or [0.0] * repeats
    runs = [
        RunRecord(k, fabricated_history(val_accuracy, shift), seed=k + 1)
        for k, shift in enumerate(shifts)
        if val_accuracy
    ]
    return TrialRecord(
        trial_id=label, label=label, status=status, hyperparameters={"units": 64},
        runs=runs,
    )  # fmt: skip


# Five runs' seed noise, mean 0.
NOISY = [0.003, -0.002, 0.001, -0.004, 0.002]


def analysed_pair(shift_b: float, **settings):
    """Trials A and B over five noisy runs, B's runs shifted by `shift_b`
    (its val_loss down by as much), analysed with A as the reference; B's
    noise is A's reversed, as runs of seeds of their own."""
    from tuning.analysis import analyze
    from tuning.settings import StudySettings

    trials = [
        fabricated_trial("A", [0.80, 0.84], shifts=NOISY),
        fabricated_trial(
            "B", [0.80, 0.84], shifts=[n + shift_b for n in reversed(NOISY)]
        ),
    ]
    settings = {"seed": 1, "repeats": 5, "reference": "A", "common_seeds": False,
                **settings}  # fmt: skip
    return analyze(trials, StudySettings(**settings))


def proposed_trials(run_dir: Path, mode: str, seed: int, count: int) -> list[dict]:
    """The hyperparameter values a `mode` search with `seed` proposes for
    `count` trials over the wide space, untrained (each scored 0.8)."""
    from hypermodels import WIDE_SPACE, SentimentHyperModel
    from tuning.modes import make_oracle
    from tuning.run_dir import RunDir
    from tuning.settings import StudySettings
    from tuning.tuner import StudyTuner

    settings = StudySettings(mode=mode, max_trials=count, seed=seed, space=WIDE_SPACE)
    oracle = make_oracle(settings)
    hypermodel = SentimentHyperModel(WIDE_SPACE, vocab_size=100)
    StudyTuner(oracle, hypermodel, RunDir(run_dir), settings)  # declares the space
    values = []
    for _ in range(count):
        trial = oracle.create_trial("tuner0")
        values.append(dict(trial.hyperparameters.values))
        oracle.update_trial(trial.trial_id, {"val_accuracy": 0.8})
        trial.status = "COMPLETED"
        oracle.end_trial(trial)
    return values


def sampled_values(rng) -> dict:
    """One trial's values, sampled from the wide space as a random search
    would, a rate only when on."""
    from hypermodels import WIDE_SPACE
    from hypermodels.space import dimensions

    values = {}
    for dimension in dimensions(WIDE_SPACE):
        if dimension.condition and not values[dimension.condition]:
            continue
        values[dimension.name] = _sampled(dimension, rng)
    return values


def _sampled(dimension, rng):
    if dimension.choices is not None:
        return dimension.choices[rng.integers(len(dimension.choices))]
    if dimension.log:
        exponents = np.log10([dimension.low, dimension.high])
        value = 10 ** rng.uniform(*exponents)
        return round(value) if dimension.integer else float(value)
    if dimension.integer:
        return int(rng.integers(dimension.low, dimension.high + 1))
    return float(rng.uniform(dimension.low, dimension.high))


def search_of(objective, trials: int, seed: int = 0, repeats: int = 1):
    """An analysed random search of `trials` fabricated trials, each scoring
    `objective(values, rng)` in best val_accuracy (plus run noise)."""
    from hypermodels import WIDE_SPACE
    from tuning.analysis import analyze
    from tuning.settings import StudySettings

    rng = np.random.default_rng(seed)
    records = []
    for i in range(trials):
        values = sampled_values(rng)
        score = objective(values, rng)
        shifts = list(rng.normal(0, 0.002, repeats)) if repeats > 1 else None
        record = fabricated_trial(f"t{i}", [score], repeats=repeats, shifts=shifts)
        records.append(dataclasses.replace(record, hyperparameters=values))
    settings = StudySettings(
        mode="random", space=WIDE_SPACE, seed=1, max_trials=trials, repeats=repeats
    )
    return analyze(records, settings)


def learning_rate_alone(values, rng):
    return 0.85 + 0.05 * math.log10(values["learning_rate"]) + rng.normal(0, 0.002)


def collapsed_search():
    """A 20-trial search whose trials 03 and 07 never learned (chance
    level), both with MSE and relu."""
    from tuning.analysis import analyze

    analysis = search_of(learning_rate_alone, 20)
    trials = [t.record for t in analysis.trials]
    for i in (3, 7):
        values = {**trials[i].hyperparameters, "loss": "mse", "activation": "relu"}
        trials[i] = dataclasses.replace(
            fabricated_trial(f"trial {i:02d}", [0.5]), hyperparameters=values
        )
    return analyze(trials, analysis.settings)


@pytest.fixture(scope="session")
def assessed_search():
    """A 30-trial search driven by the learning rate alone, assessed."""
    from tuning.importance import assess

    analysis = search_of(learning_rate_alone, 30)
    return analysis, assess(analysis, resamples=10)


@pytest.fixture(scope="session")
def imdb_path() -> Path:
    """A Keras-format imdb.npz with imdb_word_index.json beside it: $IMDB_DATA,
    else ../shared/data/imdb.npz, else Keras' cached (or downloaded) copy."""
    path = Path(os.environ.get("IMDB_DATA") or DEFAULT_DATA)
    if path.is_file():
        return path
    import keras

    try:
        for name in ("imdb_word_index.json", "imdb.npz"):
            downloaded = keras.utils.get_file(name, origin=KERAS_ORIGIN + name)
    except Exception as e:  # get_file wraps network errors in plain Exception
        pytest.fail(f"IMDB data not at {path}, nor downloadable ({e}). Set IMDB_DATA.")
    return Path(downloaded)


@pytest.fixture
def nan_hypermodel():
    """A `SentimentHyperModel` whose models' loss is NaN from the first batch."""
    import keras

    from hypermodels import SentimentHyperModel

    class NaNHyperModel(SentimentHyperModel):
        def build(self, hp):
            model = super().build(hp)
            poisoned = keras.Sequential(
                [*model.layers[:-1], keras.layers.Lambda(lambda x: x * np.nan)]
            )
            poisoned.add(model.layers[-1])
            poisoned.compile(optimizer="adam", loss="mse", metrics=["accuracy"])
            return poisoned

    return NaNHyperModel


# Packages kept out of this process when the tests started (none, as a rule).
KEPT_OUT_AT_START = {name for name, module in sys.modules.items() if module is None}


@pytest.fixture(autouse=True)
def _packages_kept_out_only_while_needed():
    """A search run in this process keeps out the packages it does not use
    (`tuning.runtime.settle_packages`: a `None` in `sys.modules`, which
    stays for the process); undone after each test, so that a later test
    that needs one (importance grows a scikit-learn forest) can load it,
    whichever tests ran before."""
    yield
    for name in [n for n, m in sys.modules.items() if m is None]:
        if name not in KEPT_OUT_AT_START:
            del sys.modules[name]


@pytest.fixture(autouse=True)
def _seed():
    import keras

    keras.utils.set_random_seed(0)


@pytest.fixture(scope="session")
def grid_run(imdb_path, tmp_path_factory):
    """All nine variants, 1 epoch, on the first 256 reviews of each split."""
    from tuning import search

    logdir = tmp_path_factory.mktemp("logs")
    argv = ["--mode", "grid", "--epochs", "1", "--limit", "256"]
    argv += ["--data", str(imdb_path), "--logdir", str(logdir), "-q"]
    return search.main(argv), logdir / "grid"


def grid_argv(imdb_path, logdir, variants, repeats, seed, epochs=3, limit=1024):
    argv = ["--variants", variants, "--repeats", str(repeats), "--seed", str(seed)]
    argv += ["--epochs", str(epochs), "--limit", str(limit)]
    return argv + ["--data", str(imdb_path), "--logdir", str(logdir), "-q"]


@pytest.fixture(scope="session")
def noise_pair(imdb_path, tmp_path_factory) -> Path:
    """Baseline and "32 Units" (a difference within the seeds' noise), 3
    runs each, seed 5."""
    from tuning import search

    logdir = tmp_path_factory.mktemp("repeats")
    argv = grid_argv(imdb_path, logdir, "Baseline,32 Units", repeats=3, seed=5)
    assert search.main(argv) == 0
    return logdir / "grid"
