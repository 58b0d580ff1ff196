"""Repeated runs from the CLI: seeds, statistics over repeats, verdicts, resume."""

import csv
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from tuning import search

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def read_csv(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def grid_argv(imdb_path, logdir, variants, repeats, seed, epochs=3, limit=1000):
    argv = ["--variants", variants, "--repeats", str(repeats), "--seed", str(seed)]
    argv += ["--epochs", str(epochs), "--limit", str(limit)]
    return argv + ["--data", str(imdb_path), "--logdir", str(logdir), "-q"]


def histories(run_dir, label):
    rows = read_csv(run_dir / "histories.csv")
    by_repeat = {}
    for row in rows:
        if row["label"] == label:
            by_repeat.setdefault(row["repeat"], []).append(
                (row["loss"], row["val_accuracy"])
            )
    return by_repeat


@pytest.fixture(scope="module")
def noise_pair(imdb_path, tmp_path_factory):
    """Baseline and "64 Units" (the same model), 3 repeats each, seed 5."""
    logdir = tmp_path_factory.mktemp("repeats")
    argv = grid_argv(imdb_path, logdir, "Baseline,64 Units", repeats=3, seed=5)
    assert search.main(argv) == 0
    return logdir / "grid"


@pytest.mark.slow
def test_each_repeat_has_its_own_recorded_seed_and_tensorboard_run(noise_pair):
    runs = read_csv(noise_pair / "runs.csv")
    assert [(r["label"], r["repeat"]) for r in runs] == [
        (label, str(k)) for label in ("Baseline", "64 Units") for k in range(3)
    ]
    assert len({r["seed"] for r in runs}) == 6
    baseline = histories(noise_pair, "Baseline")
    assert baseline["0"] != baseline["1"]  # other seeds, other runs
    for label in ("Baseline", "64 Units"):
        board = sorted(p.name for p in (noise_pair / "tensorboard" / label).iterdir())
        assert board == ["repeat_0", "repeat_1", "repeat_2"]


@pytest.mark.slow
def test_results_carry_mean_interval_and_the_identical_pair_is_not_told_apart(
    noise_pair,
):
    results = {row["label"]: row for row in read_csv(noise_pair / "results.csv")}
    runs = read_csv(noise_pair / "runs.csv")
    for label, row in results.items():
        bests = [float(r["best_val_accuracy"]) for r in runs if r["label"] == label]
        assert row["repeats"] == "3"
        assert float(row["best_val_accuracy_mean"]) == pytest.approx(sum(bests) / 3)
        low, high = float(row["objective_ci_low"]), float(row["objective_ci_high"])
        assert low < float(row["objective_mean"]) < high
    pair = results["64 Units"]
    assert pair["reference"] == "Baseline"
    assert pair["verdict"] == "not distinguishable"
    assert float(pair["difference_ci_low"]) < 0 < float(pair["difference_ci_high"])
    report = (noise_pair / "report.md").read_text()
    assert "Compared with **Baseline**" in report and "no winner is named" in report
    assert (noise_pair / "plots" / "comparison.png").read_bytes()[:4] == b"\x89PNG"


@pytest.mark.slow
def test_the_same_seed_reproduces_a_run_and_another_seed_does_not(
    noise_pair, imdb_path, tmp_path
):
    # Baseline is the first trial in both studies, so its seeds are the same.
    same = grid_argv(imdb_path, tmp_path / "same", "Baseline", repeats=2, seed=5)
    other = grid_argv(imdb_path, tmp_path / "other", "Baseline", repeats=1, seed=6)
    assert search.main(same) == 0 and search.main(other) == 0
    first = histories(noise_pair, "Baseline")
    again = histories(tmp_path / "same" / "grid", "Baseline")
    assert again == {"0": first["0"], "1": first["1"]}
    assert histories(tmp_path / "other" / "grid", "Baseline")["0"] != first["0"]


@pytest.mark.slow
def test_a_study_killed_between_repeats_keeps_the_finished_ones(imdb_path, tmp_path):
    argv = grid_argv(imdb_path, tmp_path, "Baseline", repeats=3, seed=2, epochs=3)
    process = subprocess.Popen(
        [sys.executable, "-m", "tuning.search", *argv],
        cwd=REPO,
        stderr=subprocess.DEVNULL,
    )
    run_dir = tmp_path / "grid"
    deadline = time.monotonic() + 300
    while not list(run_dir.glob("trial_*/repeat_1.json")):
        assert process.poll() is None, "the study ended before it could be killed"
        assert time.monotonic() < deadline
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.wait()
    (trial_dir,) = run_dir.glob("trial_*")
    kept = {
        name: (trial_dir / name).stat().st_mtime_ns
        for name in ("history_0.csv", "history_1.csv", "repeat_0.json")
    }
    assert search.main(argv) == 0
    assert {n: (trial_dir / n).stat().st_mtime_ns for n in kept} == kept
    runs = read_csv(run_dir / "runs.csv")
    assert [r["repeat"] for r in runs] == ["0", "1", "2"]
    assert all(r["epochs"] == "3" for r in runs)
    seeds = [json.loads((trial_dir / f"repeat_{k}.json").read_text()) for k in (0, 1)]
    assert [s["seed"] for s in seeds] == [int(r["seed"]) for r in runs[:2]]
