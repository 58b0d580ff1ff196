"""`python -m tuning.search` end to end: refusals, the grid, resume, the
validation split, and every output following the objective."""

import gc
import json
import re

import keras
import numpy as np
import pytest
from keras.src.datasets import imdb as keras_imdb

from hypermodels import VARIANTS
from tests.conftest import one_line_error, read_csv, run_search, tiny_npz
from tuning import search, study
from tuning.analysis import analyze_run
from tuning.figures import overfitting_panels
from tuning.run_dir import RunDir

NAMES = [v.name for v in VARIANTS]


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--mode", "bogus"], "argument --mode: invalid choice: 'bogus'"),
        (["--variants", "Baseline,Huge"], r"unknown variant\(s\) \['Huge'\]"),
        (["--epochs", "0"], "expected a positive integer, received '0'"),
        (["--epochs", "-3"], "expected a positive integer, received '-3'"),
        (["--validation-split", "1.5"], "expected a fraction between 0 and 1"),
        (["--data", "/nonexistent/imdb.npz"], "IMDB data file not found.*--data"),
        (["--repeats", "0"], "--repeats.*expected a positive integer, received '0'"),
        (["--repeats", "-1"], "expected a positive integer, received '-1'"),
        (["--repeats", "abc"], "expected a positive integer, received 'abc'"),
        (["--reference", "Huge"], "--reference 'Huge' is unknown"),
        (
            ["--variants", "MSE Loss,Dropout", "--reference", "Baseline"],
            "--reference 'Baseline' is not among --variants",
        ),
        (["--mode", "random", "--variants", "Baseline"], "--variants does not apply"),
        (["--mode", "random", "--reference", "Baseline"], "--reference does not"),
        (["--mode", "hyperband", "--max-trials", "3"], "--max-trials does not apply"),
        (
            ["--validation-split", "0.001", "--limit", "300"],
            "leaves 300 to train on and 0 to validate on",
        ),
        (
            ["--validation-split", "0.999", "--limit", "300"],
            "leaves 0 to train on and 300 to validate on",
        ),
        (["--validation-split", "0.5", "--limit", "1"], "leaves 1 to train on and 0"),
        (["--limit", str(10**23)], "--limit 10{23} is more than the 25000 training"),
        (["--margin", "0"], "--margin: expected a positive number, received '0'"),
        (["--margin", "-0.01"], "expected a positive number, received '-0.01'"),
        (["--margin", "nan"], "expected a positive number, received 'nan'"),
        (["--margin", "inf"], "expected a positive number, received 'inf'"),
        (["--margin", "a lot"], "expected a positive number"),
        (["--repeats", "auto", "--max-repeats", "3"], "expected at least 4"),
        (["--repeats", "auto", "--max-repeats", "101"], "up to 100"),
        (["--max-repeats", "10"], "--max-repeats applies to --repeats auto only"),
        (
            ["--repeats", "auto", "--variants", "Baseline"],
            "--variants Baseline has nothing to compare",
        ),
        (["--margin", "2"], "--margin 2 is as wide as val_accuracy can differ"),
        (
            ["--objective", "val_loss", "--variants", "Baseline,MSE Loss"],
            "--objective val_loss would compare binary_crossentropy with mse",
        ),
        (
            ["--mode", "random", "--objective", "loss"],
            "--objective loss would compare binary_crossentropy with mse",
        ),
        (
            ["--margin", "1", "--objective", "accuracy"],
            "--margin 1 is as wide as accuracy can differ",
        ),
        (
            ["--mode", "random", "--repeats", "auto"],
            "--repeats auto needs a reference fixed before the runs",
        ),
        (["--runs-at-once", "0"], "--runs-at-once: expected a positive integer"),
        (["--runs-at-once", "101"], "up to 100"),
        (
            ["--runs-at-once", "2", "--backend", "torch"],
            "--runs-at-once 2 needs the JAX backend",
        ),
    ],
)
def test_bad_input_is_one_line_status_2_nothing_written(
    argv, message, tmp_path, capsys
):
    logdir = tmp_path / "logs"
    assert search.main([*argv, "--logdir", str(logdir)]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1
    assert re.search(message, err)
    assert not logdir.exists()


@pytest.mark.parametrize("content", ["text", "npz-without-keys"])
def test_bad_data_file_is_one_line_status_2_nothing_written(content, tmp_path, capsys):
    data = tmp_path / "imdb.npz"
    if content == "text":
        data.write_text("not a zip")
    else:
        np.savez(data, x_train=np.zeros(2))
    logdir = tmp_path / "logs"
    assert search.main(["--data", str(data), "--logdir", str(logdir)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ")
    assert str(data) in err[0]
    assert not logdir.exists()


@pytest.mark.slow
def test_grid_runs_all_nine_variants_and_writes_results(grid_run, capsys):
    status, run_dir = grid_run
    assert status == 0
    # Run in this Python session: its collector is left as it was found.
    assert gc.isenabled() and gc.get_freeze_count() == 0
    results = read_csv(run_dir / "results.csv")
    assert [row["label"] for row in results] == NAMES
    assert all(row["status"] == "COMPLETED" for row in results)
    assert all(row["protocol"] == "test-as-validation" for row in results)
    by_name = {row["label"]: row for row in results}
    assert by_name["MSE Loss"]["loss"] == "mse"
    assert by_name["3 Hidden Layers"]["hidden_layers"] == "3"
    assert by_name["64 Units"]["trial_id"] != by_name["Baseline"]["trial_id"]

    histories = read_csv(run_dir / "histories.csv")
    assert [row["label"] for row in histories] == NAMES  # one epoch each
    for row in results:
        (history,) = [h for h in histories if h["label"] == row["label"]]
        assert float(row["best_val_accuracy"]) == float(history["val_accuracy"])
        assert float(row["final_accuracy"]) == float(history["accuracy"])

    board_runs = sorted(p.name for p in (run_dir / "tensorboard").iterdir())
    assert board_runs == sorted([*NAMES, "report"])  # report: Text and Images
    for figure in ("val_accuracy.png", "val_loss.png"):
        assert (run_dir / "plots" / figure).read_bytes()[:4] == b"\x89PNG"
    settings = json.loads((run_dir / "study.json").read_text())
    assert settings["epochs"] == 1 and settings["limit"] == 256
    assert settings["backend"] == keras.backend.backend() == "jax"


@pytest.mark.slow
def test_rerunning_a_finished_grid_retrains_nothing(grid_run, capsys):
    _, run_dir = grid_run
    before = {p: p.stat().st_mtime_ns for p in run_dir.glob("trial_*/history_0.csv")}
    argv = ["--epochs", "1", "--limit", "256", "--logdir", str(run_dir.parent)]
    argv += ["--data", json.loads((run_dir / "study.json").read_text())["data"]]
    assert search.main(argv) == 0
    out = capsys.readouterr().out
    assert all(name in out for name in NAMES)
    after = {p: p.stat().st_mtime_ns for p in run_dir.glob("trial_*/history_0.csv")}
    assert after == before and len(after) == 9


@pytest.mark.slow
def test_validation_split_holds_out_training_reviews_and_tests_once(
    imdb_path, tmp_path, capsys
):
    argv = ["--variants", "Baseline,MSE Loss", "--epochs", "2", "--limit", "200"]
    argv += ["--validation-split", "0.25", "--data", str(imdb_path)]
    argv += ["--logdir", str(tmp_path), "--run-name", "holdout"]
    assert search.main(argv) == 0
    out = capsys.readouterr().out
    assert "0.25 of the training reviews held out" in out
    results = read_csv(tmp_path / "holdout" / "results.csv")
    assert [row["label"] for row in results] == ["Baseline", "MSE Loss"]
    assert all(row["protocol"] == "holdout-validation" for row in results)
    for row in results:
        # Measured on the 200 test reviews: a multiple of 1/200.
        assert float(row["test_accuracy"]) * 200 == pytest.approx(
            round(float(row["test_accuracy"]) * 200), abs=1e-4
        )
        assert row["epochs"] == "2"
    # The held-out accuracy is measured on 50 reviews: a multiple of 1/50.
    history = read_csv(tmp_path / "holdout" / "histories.csv")
    for row in history:
        assert float(row["val_accuracy"]) * 50 == pytest.approx(
            round(float(row["val_accuracy"]) * 50), abs=1e-4
        )


@pytest.mark.slow
def test_report_quotes_numbers_from_the_histories(grid_run):
    _, run_dir = grid_run
    report = (run_dir / "report.md").read_text()
    histories = read_csv(run_dir / "histories.csv")
    last = {row["label"]: row for row in histories}  # one epoch: last = best
    assert "One run per trial: no verdict is possible" in report
    gap = float(last["64 Units"]["val_accuracy"])
    gap -= float(last["Baseline"]["val_accuracy"])
    assert f"the same configuration from other seeds, differ by {gap:+.4f}" in report
    for name, row in last.items():
        gap = float(row["accuracy"]) - float(row["val_accuracy"])
        assert f"{name}: {gap:.4f}" in report
        assert f"| {name} |" in report
    for figure in (
        "val_accuracy",
        "val_loss",
        "overfitting_accuracy",
        "overfitting_loss",
        "comparison",
    ):
        assert f"](plots/{figure}.png)" in report
        assert (run_dir / "plots" / f"{figure}.png").is_file()


# Invalid data is refused before anything trains.
@pytest.mark.parametrize(
    "fault, message",
    [
        ({"y_train": (0, 1, 2, 1)}, "y_train holds labels [0, 1, 2]"),
        ({"negative": True}, "found the negative rank -7"),
        ({"y_train": (0, 1, 1)}, "x_train holds 4 reviews but y_train 3 labels"),
        ({"empty": True}, "x_train holds no review"),
    ],
)
def test_invalid_data_is_one_line_before_training(fault, message, tmp_path, capsys):
    x_train = None
    if fault.get("negative"):
        x_train = np.empty(4, dtype=object)
        for i in range(4):
            x_train[i] = [3, -7] if i == 2 else [3, 4]
    if fault.get("empty"):
        x_train, fault["y_train"] = np.empty(0, dtype=object), ()
    data = tiny_npz(tmp_path / "imdb.npz", fault.get("y_train", (1, 0, 1, 0)), x_train)
    status, err = run_search(["--data", str(data)], tmp_path / "logs", capsys)
    one_line_error(status, err, message)
    assert not (tmp_path / "logs").exists()


def test_a_missing_word_index_offline_stops_before_training(
    tmp_path, capsys, monkeypatch
):
    def offline(*args, **kwargs):
        raise Exception("URL fetch failure: no network")

    monkeypatch.setattr(keras_imdb, "get_file", offline)
    data = tiny_npz(tmp_path / "imdb.npz", word_index=False)
    status, err = run_search(["--data", str(data)], tmp_path / "logs", capsys)
    one_line_error(status, err, "Put imdb_word_index.json next to the local imdb.npz")
    assert not (tmp_path / "logs").exists()


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--epochs", "99999999999999999999"], "up to 10,000"),
        (["--mode", "random", "--space", "HUGE"], "too large for this machine"),
    ],
)
def test_what_cannot_run_is_refused_up_front(argv, message, tmp_path, capsys):
    space = tmp_path / "space.json"
    space.write_text('{"units": {"min": 16, "max": 1000000000}}')
    argv = [str(space) if a == "HUGE" else a for a in argv]
    status = search.main([*argv, "--logdir", str(tmp_path / "logs")])
    err = capsys.readouterr().err
    assert status == 2 and message in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "logs").exists()


def test_a_study_of_failing_trials_reports_them_and_exits_1(
    imdb_path, tmp_path, capsys, monkeypatch, nan_hypermodel
):
    monkeypatch.setattr(study, "SentimentHyperModel", nan_hypermodel)
    argv = ["--variants", "Baseline,MSE Loss,Dropout,32 Units", "--epochs", "1"]
    argv += ["--limit", "64", "--data", str(imdb_path), "--seed", "1"]
    for _ in range(2):  # the rerun goes on, it does not raise again
        status, err = run_search(argv, tmp_path, capsys)
        assert status == 1
        assert err.strip().splitlines()[-1].startswith("error: no trial completed")
        assert "Traceback" not in err  # the reason is in results.csv
    run_dir = RunDir(tmp_path / "grid")
    rows = run_dir.results_csv.read_text().splitlines()
    # Three failures in a row stop a search; a rerun tries once more each time.
    assert len(rows) == 1 + 4 and all(",FAILED," in row for row in rows[1:])
    assert all("Loss became nan in epoch 1" in row for row in rows[1:])
    assert run_dir.report.is_file()
    assert not run_dir.best_model.root.exists()


@pytest.mark.slow
def test_every_output_follows_the_objective(imdb_path, tmp_path, capsys):
    """The issue's run: the best epoch of val_loss everywhere, not val_accuracy's."""
    argv = ["--mode", "grid", "--variants", "Baseline,Dropout", "--epochs", "4"]
    argv += ["--limit", "2000", "--objective", "val_loss", "--seed", "3"]
    argv += ["--data", str(imdb_path)]
    status, _ = run_search(argv, tmp_path, capsys)
    assert status == 0
    run_dir = RunDir(tmp_path / "grid")
    histories = read_csv(run_dir.histories_csv)
    lowest = {}
    for label in ("Baseline", "Dropout"):
        rows = [r for r in histories if r["label"] == label]
        val_loss = [float(r["val_loss"]) for r in rows]
        lowest[label] = int(rows[val_loss.index(min(val_loss))]["epoch"])
    results = {row["label"]: row for row in read_csv(run_dir.results_csv)}
    assert {label: int(row["best_epoch"]) for label, row in results.items()} == lowest
    assert {row["objective_metric"] for row in results.values()} == {"val_loss"}
    report = run_dir.report.read_text()
    assert (
        "Epoch of best val_loss: "
        + "; ".join(f"{label}: {epoch}" for label, epoch in lowest.items())
        in report
    )
    described = json.loads(run_dir.best_model.description.read_text())
    assert described["objective"] == "val_loss"
    assert described["epoch"] == lowest[described["label"]]
    # The figures star the epochs their panels were computed with.
    analysis = analyze_run(run_dir, run_dir.read_settings())
    panels = overfitting_panels(analysis.top(10), "loss", analysis.objective.name)
    assert {panel.label: panel.best_epoch for panel in panels} == lowest
    assert (run_dir.plots / "overfitting_loss.png").is_file()
