"""Extending the study: a mode is one table entry, a variant is one line."""

import csv
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tuning import modes, search
from tuning.errors import UsageError
from tuning.run_dir import RunDir

REPO = Path(__file__).resolve().parents[1]


def read_csv(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_a_mode_added_to_the_table_is_offered_checked_and_built(monkeypatch):
    sobol = modes.Mode(
        "sobol",
        "a quasi-random search",
        frozenset({"max_trials", "space"}),
        modes.MODES["random"].make_oracle,
    )
    monkeypatch.setitem(modes.MODES, "sobol", sobol)
    parser = search.build_parser()
    args = parser.parse_args(["--mode", "sobol", "--max-trials", "4", "--seed", "2"])
    settings = search.resolve_settings(args, RunDir("unused"))
    assert (settings.mode, settings.max_trials, settings.variants) == ("sobol", 4, ())
    assert modes.make_oracle(settings).max_trials == 4
    args = parser.parse_args(["--mode", "sobol", "--variants", "Baseline"])
    with pytest.raises(UsageError, match="--variants does not apply to --mode sobol"):
        search.resolve_settings(args, RunDir("unused"))


@pytest.mark.slow
def test_a_tenth_variant_is_one_line_in_variants_py(imdb_path, tmp_path):
    copy = tmp_path / "repo"
    for package in ("tuning", "hypermodels"):
        shutil.copytree(REPO / package, copy / package)
    variants = copy / "hypermodels" / "variants.py"
    text = variants.read_text()
    last = '    dataclasses.replace(BASELINE, name="L2 Regularization", l2=0.001),\n'
    tenth = '    dataclasses.replace(BASELINE, name="16 Units", units=16),\n'
    assert last in text
    variants.write_text(text.replace(last, last + tenth))
    argv = ["--variants", "Baseline,16 Units", "--epochs", "1", "--limit", "100"]
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


@pytest.mark.slow
def test_early_stopping_on_val_loss_stops_when_patience_runs_out(imdb_path, tmp_path):
    argv = ["--variants", "Baseline", "--epochs", "6", "--limit", "500"]
    argv += ["--objective", "val_loss", "--early-stopping", "1", "--seed", "4"]
    argv += ["--data", str(imdb_path), "--logdir", str(tmp_path), "-q"]
    assert search.main(argv) == 0
    run_dir = tmp_path / "grid"
    val_loss = [float(r["val_loss"]) for r in read_csv(run_dir / "histories.csv")]
    best = val_loss.index(min(val_loss))
    # Patience 1: training ends one epoch after the best, or at the last epoch.
    assert len(val_loss) == min(best + 2, 6)
    assert all(val_loss[e + 1] < min(val_loss[: e + 1]) for e in range(best))
    (result,) = read_csv(run_dir / "results.csv")
    assert float(result["objective_mean"]) == pytest.approx(min(val_loss))
    chosen = json.loads((run_dir / "best_model" / "trial.json").read_text())
    assert chosen["objective"] == "val_loss"
    assert chosen["score"] == pytest.approx(min(val_loss))
