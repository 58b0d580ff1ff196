"""Runs trained together (`tuning.grouped`, `--runs-at-once`): the same runs
as one at a time, each with its own callbacks, stops and checkpoint."""

import json

import keras
import keras_tuner as kt
import numpy as np
import pytest

from hypermodels import SentimentHyperModel
from tests.conftest import grid_argv, read_csv, run_with_fault
from tuning import search
from tuning.grouped import RunGroup
from tuning.run_dir import RunDir

# Runs trained together and alone start from the same weights, dropout
# stream and shuffle order, and run the same steps; only the compiled
# kernels differ (a matrix product over a run axis), so each step's result
# may differ in its last bit (float32 rounds at 6e-8). Over the few hundred
# steps of these tests that stays below 1e-5, where another seed moves the
# curves by 1e-2 or more. docs/architecture.md says what it grows to over
# a full study.
TOLERANCE = 1e-5
METRICS = ("loss", "accuracy", "val_loss", "val_accuracy")


def curves(run_dir) -> dict[tuple[str, str, str], list[float]]:
    """Every run's metrics per epoch, from histories.csv."""
    rows = read_csv(run_dir / "histories.csv")
    return {
        (r["label"], r["repeat"], r["epoch"]): [float(r[m]) for m in METRICS]
        for r in rows
    }


def largest_difference(a, b) -> float:
    assert a.keys() == b.keys()
    return max(np.max(np.abs(np.subtract(a[key], b[key]))) for key in a)


@pytest.mark.slow
def test_the_grid_trained_in_groups_gives_the_runs_it_gives_one_at_a_time(
    imdb_path, tmp_path
):
    # 256 reviews, as the session's `grid_run`: the one-run programs compiled
    # for it are in the compile cache already.
    argv = ["--repeats", "2", "--seed", "1", "--epochs", "2", "--limit", "256"]
    argv += ["--data", str(imdb_path), "-q"]
    studies = {}
    for name, runs_at_once in [("alone", "1"), ("together", "2")]:
        logdir = tmp_path / name
        flags = ["--runs-at-once", runs_at_once, "--logdir", str(logdir)]
        assert search.main([*argv, *flags]) == 0
        studies[name] = logdir / "grid"
    alone, together = (read_csv(s / "runs.csv") for s in studies.values())
    assert len(alone) == 18
    assert [(r["label"], r["repeat"], r["seed"]) for r in alone] == [
        (r["label"], r["repeat"], r["seed"]) for r in together
    ]
    for a, b in zip(alone, together, strict=True):
        for column in ("best_val_accuracy", "final_val_loss", "best_epoch"):
            assert float(a[column]) == pytest.approx(float(b[column]), abs=TOLERANCE)
    assert largest_difference(*(curves(s) for s in studies.values())) < TOLERANCE


@pytest.mark.slow
def test_another_seed_moves_the_curves_far_beyond_the_tolerance(imdb_path, tmp_path):
    """What the tolerance above is measured against."""
    runs = {}
    for seed in (1, 2):
        argv = grid_argv(
            imdb_path, tmp_path / str(seed), "Baseline", 1, seed, epochs=2, limit=512
        )
        assert search.main(argv) == 0
        runs[seed] = curves(tmp_path / str(seed) / "grid")
    assert largest_difference(runs[1], runs[2]) > 1000 * TOLERANCE


@pytest.mark.slow
def test_a_run_stopped_early_stops_updating_while_the_others_train_on(
    imdb_path, tmp_path
):
    argv = ["--variants", "Baseline", "--repeats", "4", "--epochs", "8"]
    argv += ["--limit", "1024", "--early-stopping", "1"]
    argv += ["--seed", "4", "--data", str(imdb_path), "-q"]
    for name, runs_at_once in [("alone", "1"), ("together", "4")]:
        logdir = str(tmp_path / name)
        assert (
            search.main([*argv, "--runs-at-once", runs_at_once, "--logdir", logdir])
            == 0
        )
    alone, together = (
        curves(tmp_path / name / "grid") for name in ("alone", "together")
    )
    epochs = [
        int(r["epochs"]) for r in read_csv(tmp_path / "together" / "grid" / "runs.csv")
    ]
    assert len(set(epochs)) > 1  # the runs stopped at different epochs
    assert largest_difference(alone, together) < TOLERANCE
    chosen = [
        json.loads(RunDir(tmp_path / name / "grid").best_model.description.read_text())
        for name in ("alone", "together")
    ]
    assert (chosen[0]["repeat"], chosen[0]["epoch"]) == (
        chosen[1]["repeat"],
        chosen[1]["epoch"],
    )
    assert chosen[0]["value"] == pytest.approx(chosen[1]["value"], abs=TOLERANCE)


@pytest.mark.slow
def test_a_group_killed_mid_epoch_trains_again_whole_when_resumed(imdb_path, tmp_path):
    argv = grid_argv(
        imdb_path, tmp_path, "Baseline", repeats=3, seed=2, epochs=3, limit=288
    )
    argv += ["--runs-at-once", "3"]
    killed = run_with_fault(["kill-at-epoch", "2", "0"], "tuning.search", argv)
    assert killed.returncode == -9, killed.stderr[-2000:]
    run_dir = RunDir(tmp_path / "grid")
    assert not any(run_dir.run_record("0", k).exists() for k in range(3))
    assert search.main(argv) == 0
    runs = read_csv(run_dir.runs_csv)
    assert [(r["repeat"], r["epochs"]) for r in runs] == [
        (str(k), "3") for k in range(3)
    ]
    uninterrupted = grid_argv(
        imdb_path, tmp_path / "whole", "Baseline", 3, 2, epochs=3, limit=288
    )
    assert search.main([*uninterrupted, "--runs-at-once", "3"]) == 0
    assert (
        largest_difference(curves(run_dir.root), curves(tmp_path / "whole" / "grid"))
        < TOLERANCE
    )


def dropout_model() -> keras.Model:
    model = keras.Sequential(
        [
            keras.Input((None,), dtype="int32"),
            keras.layers.Embedding(10_000, 16),
            keras.layers.GlobalAveragePooling1D(),
            keras.layers.Dense(8, "relu"),
            keras.layers.Dropout(0.5),
            keras.layers.Dense(1, "sigmoid"),
        ]
    )
    model.compile("adam", "binary_crossentropy", metrics=["accuracy"])
    return model


@pytest.mark.slow
@pytest.mark.parametrize("seeds", [(7,), (7, 8, 9)])
def test_a_group_learns_what_keras_own_fit_learns(imdb_path, seeds):
    """Weights, dropout, shuffle order, the ragged last batch (300 reviews
    in batches of 32) and validation, against Keras' own loop: for a group
    of one and for the first run of a group of three."""
    from tuning.data import load_imdb

    data = load_imdb(imdb_path).head(300)
    validation = (data.x_test, data.y_test)
    keras.utils.set_random_seed(7)
    reference = dropout_model()
    expected = reference.fit(
        data.x_train, data.y_train, batch_size=32, epochs=2,
        validation_data=validation, validation_batch_size=50, verbose=0,
    ).history  # fmt: skip
    group = RunGroup(data.x_train, data.y_train, validation, 32, 50)
    for seed in seeds:
        keras.utils.set_random_seed(seed)
        group.add(dropout_model())
    history = group.fit(2, [[] for _ in seeds], verbose=0)[0].history
    assert history.keys() == expected.keys()
    for name in expected:
        np.testing.assert_allclose(history[name], expected[name], rtol=TOLERANCE)
    for weights, expected_weights in zip(
        group.models[0].get_weights(), reference.get_weights(), strict=True
    ):
        np.testing.assert_allclose(weights, expected_weights, rtol=1e-5, atol=1e-7)
    (tested, *_) = group.evaluate(*validation)
    assert tested == pytest.approx(
        reference.evaluate(*validation, verbose=0, return_dict=True), rel=TOLERANCE
    )


def tiny_group(count: int) -> RunGroup:
    """`count` runs of the default model, on 64 made-up reviews."""
    x = np.random.RandomState(0).randint(0, 100, size=(64, 16))
    y = np.arange(64) % 2
    group = RunGroup(x, y, (x, y), batch_size=32, validation_batch_size=32)
    hypermodel = SentimentHyperModel(vocab_size=100)
    for seed in range(count):
        keras.utils.set_random_seed(seed)
        group.add(hypermodel.build(kt.HyperParameters()))
    return group


class _Refusal(Exception):
    pass


def test_a_callback_that_raises_lets_every_run_end_the_epoch_first():
    group = tiny_group(3)

    def refuse(epoch, logs):
        raise _Refusal

    logged = [[] for _ in range(3)]
    callbacks = [
        [
            keras.callbacks.LambdaCallback(
                on_epoch_end=lambda e, logs, k=k: logged[k].append(e)
            )
        ]
        for k in range(3)
    ]
    callbacks[0].insert(0, keras.callbacks.LambdaCallback(on_epoch_end=refuse))
    with pytest.raises(_Refusal):
        group.fit(3, callbacks, verbose=0)
    assert logged == [[], [0], [0]]  # run 0's own logger came after the refusal
    histories = [m.history.history.get("loss", []) for m in group.models]
    assert [len(h) for h in histories] == [0, 1, 1]  # as in Keras' own fit


def test_each_run_of_a_group_has_its_own_history_and_stops_on_its_own():
    group = tiny_group(2)
    first = group.models[0]
    at_stop = []

    def stop_first(epoch, logs):
        at_stop.append(first.get_weights())
        first.stop_training = True

    histories = group.fit(
        4, [[keras.callbacks.LambdaCallback(on_epoch_end=stop_first)], []], verbose=0
    )
    assert [len(h.history["loss"]) for h in histories] == [1, 4]
    assert histories[0].history["loss"][0] != histories[1].history["loss"][0]
    (stopped,) = at_stop
    assert all(
        np.array_equal(a, b) for a, b in zip(stopped, first.get_weights(), strict=True)
    )
    trained_on = group.models[1].get_weights()
    assert not np.array_equal(trained_on[0], stopped[0])
