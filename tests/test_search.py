import csv
import gc
import json
import os
import re
import subprocess
import sys
import weakref

import keras
import numpy as np
import pytest

from hypermodels import VARIANTS
from tuning import runtime, search

NAMES = [v.name for v in VARIANTS]


def read_csv(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


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


def test_errors_exit_2_without_traceback_from_the_shell(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "tuning.search", "--epochs", "0"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "logs").exists()


def test_a_command_ends_with_its_status_output_and_atexit_handlers():
    """`exit_process` spares only the collector's sweep at shutdown."""
    code = (
        "import atexit, gc, sys\n"
        "from tuning import cli\n"
        "atexit.register(lambda: print('handler', gc.get_freeze_count() > 0))\n"
        "sys.stdout.write('buffered, ')\n"
        "cli.exit_process(3)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True
    )
    assert result.returncode == 3
    assert result.stdout == "buffered, handler True\n"


def test_objects_alive_when_a_study_starts_are_spared_its_collections_not_leaked():
    class Node:
        pass

    node = Node()
    node.cycle = node  # only the cyclic collector frees it
    alive = weakref.ref(node)
    with runtime.outliving_objects_frozen():
        del node
        gc.collect()  # Keras Tuner's, before every trial
        assert alive() is not None
    gc.collect()
    assert alive() is None


def test_collections_paused_only_for_the_block_even_when_it_raises():
    with pytest.raises(RuntimeError), runtime.collections_paused():
        assert not gc.isenabled()
        raise RuntimeError
    assert gc.isenabled()


def test_help_does_not_import_keras():
    code = "import sys, tuning.search; print('keras' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True
    )
    assert result.stdout.strip() == "False"


@pytest.mark.slow
def test_compiled_steps_are_loaded_from_the_machines_cache(imdb_path, tmp_path):
    cache = tmp_path / "cache"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KERAS", "JAX"))}
    # Every compile is cached, however fast this machine compiles.
    env.update(
        IMDB_TUNE_CACHE=str(cache),
        JAX_LOG_COMPILES="1",
        JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS="0",
    )

    def cache_hits(logdir):
        argv = ["--mode", "grid", "--variants", "Baseline,64 Units", "--epochs", "1"]
        argv += ["--limit", "100", "--data", str(imdb_path), "--logdir", str(logdir)]
        result = subprocess.run(
            [sys.executable, "-m", "tuning.search", *argv, "-q"],
            env=env,
            capture_output=True,
            text=True,
        )
        assert result.returncode == 0, result.stderr[-2000:]
        hit = r"Persistent compilation cache hit for '(\w+)'"
        return re.findall(hit, result.stderr)

    # "64 Units" is the Baseline model: its steps come from Baseline's entries.
    first = cache_hits(tmp_path / "first")
    assert any((cache / runtime.COMPILE_CACHE).iterdir())
    # A later study, in another run directory, finds both trials' steps.
    later = cache_hits(tmp_path / "later")
    for step in ("jit_scan", "jit_train_step", "jit_test_step"):
        assert first.count(step) == 1  # the second trial's, not the first's
        assert later.count(step) == 2


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
    assert board_runs == sorted(NAMES)
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
def test_resuming_with_other_settings_is_refused(grid_run, capsys):
    _, run_dir = grid_run
    argv = ["--epochs", "2", "--limit", "256", "--logdir", str(run_dir.parent)]
    argv += ["--data", json.loads((run_dir / "study.json").read_text())["data"]]
    assert search.main(argv) == 2
    assert "started with other epochs" in capsys.readouterr().err


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
