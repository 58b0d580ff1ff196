import subprocess
import sys

import keras
import keras_tuner as kt
import pytest

from hypermodels import (
    VARIANTS,
    VARIANTS_BY_NAME,
    WIDE_SPACE,
    SentimentHyperModel,
    grid_space,
)
from tests.conftest import REPO, read_csv
from tuning.settings import NUM_WORDS


def build(variant):
    hp = kt.HyperParameters()
    hp.values.update(variant.hyperparameters())
    return SentimentHyperModel(vocab_size=NUM_WORDS).build(hp)


def test_the_nine_documented_variants_in_order():
    assert [v.name for v in VARIANTS] == [
        "Baseline",
        "1 Hidden Layer",
        "3 Hidden Layers",
        "32 Units",
        "64 Units",
        "MSE Loss",
        "Tanh Activation",
        "Dropout",
        "L2 Regularization",
    ]
    baseline = VARIANTS_BY_NAME["Baseline"].hyperparameters()
    assert baseline == {
        "hidden_layers": 2,
        "units": 64,
        "activation": "relu",
        "loss": "binary_crossentropy",
        "dropout_on": False,
        "l2_on": False,
        "learning_rate": 0.001,
        "embedding_dim": 64,
    }
    assert VARIANTS_BY_NAME["Dropout"].hyperparameters()["dropout"] == 0.5
    assert VARIANTS_BY_NAME["L2 Regularization"].hyperparameters()["l2"] == 0.001
    assert VARIANTS_BY_NAME["64 Units"].hyperparameters() == baseline


def test_grid_space_defaults_to_baseline():
    hp = kt.HyperParameters()
    SentimentHyperModel(grid_space(), vocab_size=NUM_WORDS).build(hp)
    assert hp.values == VARIANTS_BY_NAME["Baseline"].hyperparameters()
    assert grid_space()["hidden_layers"] == [2, 1, 3]
    assert grid_space()["l2"] == {"values": [0.001], "off": True}


@pytest.mark.parametrize("variant", VARIANTS, ids=lambda v: v.name)
def test_every_variant_is_a_point_of_the_wide_space(variant):
    hp = kt.HyperParameters()
    hp.values.update(variant.hyperparameters())
    SentimentHyperModel(WIDE_SPACE, vocab_size=NUM_WORDS).build(hp)  # declares it
    space = {declared.name: declared for declared in hp.space}
    for name, value in variant.hyperparameters().items():
        declared = space[name]
        if isinstance(declared, kt.engine.hyperparameters.Choice):
            assert value in declared.values, name
        elif isinstance(declared, kt.engine.hyperparameters.Boolean):
            assert isinstance(value, bool), name
        else:
            assert declared.min_value <= value <= declared.max_value, name


@pytest.mark.parametrize("variant", VARIANTS, ids=lambda v: v.name)
def test_variant_builds_its_network(variant):
    model = build(variant)
    layers = model.layers
    assert isinstance(layers[0], keras.layers.Embedding)
    assert layers[0].input_dim == 10_000
    assert isinstance(layers[1], keras.layers.GlobalAveragePooling1D)
    dense = [layer for layer in layers if isinstance(layer, keras.layers.Dense)]
    hidden, output = dense[:-1], dense[-1]
    assert len(hidden) == variant.hidden_layers
    for layer in hidden:
        assert layer.units == variant.units
        assert layer.activation.__name__ == variant.activation
        if variant.l2:
            assert layer.kernel_regularizer.get_config()["l2"] == pytest.approx(
                variant.l2
            )
        else:
            assert layer.kernel_regularizer is None
    dropouts = [layer for layer in layers if isinstance(layer, keras.layers.Dropout)]
    assert len(dropouts) == (variant.hidden_layers if variant.dropout else 0)
    assert all(d.rate == variant.dropout for d in dropouts)
    if dropouts:  # each Dropout follows a hidden Dense layer
        for d in dropouts:
            assert isinstance(layers[layers.index(d) - 1], keras.layers.Dense)
    assert output.units == 1 and output.activation.__name__ == "sigmoid"
    assert model.loss == variant.loss
    assert model.layers[0].output_dim == variant.embedding_dim
    assert isinstance(model.optimizer, keras.optimizers.Adam)
    assert float(model.optimizer.learning_rate) == pytest.approx(0.001)


@pytest.mark.slow
def test_a_tenth_variant_is_one_line_in_variants_py(imdb_path, tmp_path):
    import shutil

    copy = tmp_path / "repo"
    for package in ("tuning", "hypermodels"):
        shutil.copytree(REPO / package, copy / package)
    variants = copy / "hypermodels" / "variants.py"
    text = variants.read_text()
    last = '    dataclasses.replace(BASELINE, name="L2 Regularization", l2=0.001),\n'
    tenth = '    dataclasses.replace(BASELINE, name="16 Units", units=16),\n'
    assert last in text
    variants.write_text(text.replace(last, last + tenth))
    argv = ["--variants", "Baseline,16 Units", "--epochs", "1", "--limit", "96"]
    argv += ["--data", str(imdb_path), "--logdir", str(tmp_path / "logs"), "-q"]
    result = subprocess.run(
        [sys.executable, "-m", "tuning.search", *argv],
        cwd=copy,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    results = read_csv(tmp_path / "logs" / "grid" / "results.csv")
    assert [(r["label"], r["units"]) for r in results] == [
        ("Baseline", "64"),
        ("16 Units", "16"),
    ]
    assert all(r["status"] == "COMPLETED" for r in results)
