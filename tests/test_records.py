import json
import re
import shutil

import pytest

from hypermodels import VARIANTS
from tests.conftest import one_line_error
from tuning import plot, search
from tuning.errors import UsageError
from tuning.records import failure_reason, load_trials, read_history
from tuning.run_dir import RunDir
from tuning.settings import StudySettings


def test_a_failed_trial_records_its_exception_not_jax_notes():
    message = (
        'Traceback (most recent call last):\n  File "x.py", line 3, in f\n'
        "jax.errors.JaxRuntimeError: RESOURCE_EXHAUSTED: Out of memory "
        "allocating 199000000000 bytes.\n"
        "--------------------\n"
        "For simplicity, JAX has removed its internal frames from the traceback "
        "of the following exception. Set JAX_TRACEBACK_FILTERING=off to include "
        "these.\n"
    )
    assert failure_reason(message).startswith(
        "jax.errors.JaxRuntimeError: RESOURCE_EXHAUSTED: Out of memory"
    )


def test_a_run_directory_without_trials_has_no_records(tmp_path):
    assert load_trials(RunDir(tmp_path), StudySettings()) == []


@pytest.mark.slow
def test_trials_are_read_back_in_start_order_with_their_runs(grid_run):
    _, run_dir = grid_run
    records = load_trials(RunDir(run_dir), RunDir(run_dir).read_settings())
    assert [r.label for r in records] == [v.name for v in VARIANTS]
    for record, variant in zip(records, VARIANTS, strict=True):
        assert record.status == "COMPLETED"
        assert "variant" not in record.hyperparameters
        assert record.hyperparameters["units"] == variant.units
        (run,) = record.finished_runs
        assert run.epochs == 1 and run.seed is not None


def _edit_json(path, change):
    content = json.loads(path.read_text())
    change(content)
    path.write_text(json.dumps(content))


def _write_lines(path, change):
    lines = path.read_text().splitlines()
    path.write_text("\n".join(change(lines)) + "\n")


# Each fault: the file it damages, relative to the run, and how.
DAMAGES = {
    "ended trial marked running": (
        "trial_0/trial.json",
        lambda p: _edit_json(p, lambda t: t.update(status="RUNNING")),
        "status RUNNING, but oracle.json says the trial ended",
    ),
    "unknown status": (
        "trial_0/trial.json",
        lambda p: _edit_json(p, lambda t: t.update(status="DONE")),
        "unknown status 'DONE'",
    ),
    "no metrics": (
        "trial_0/trial.json",
        lambda p: _edit_json(p, lambda t: t.pop("metrics")),
        "no dict 'metrics'",
    ),
    "no hyperparameters": (
        "trial_0/trial.json",
        lambda p: _edit_json(p, lambda t: t.pop("hyperparameters")),
        "no dict 'hyperparameters'",
    ),
    "a trial that does not exist": (
        "oracle.json",
        lambda p: _edit_json(p, lambda o: o["start_order"].append("7")),
        "it names trial 7, which has no",
    ),
    "a deleted trial directory": (
        "oracle.json",
        lambda p: shutil.rmtree(p.parent / "trial_0"),
        "it names trial 0, which has no",
    ),
    "a garbled history row": (
        "trial_0/history_0.csv",
        lambda p: _write_lines(p, lambda lines: [lines[0], "0,x,y,z,w"]),
        "line 2 is not numbers",
    ),
    "a history without its columns": (
        "trial_0/history_0.csv",
        lambda p: _write_lines(p, lambda lines: ["a,b", "1,2"]),
        "no epoch, loss, accuracy, val_loss, val_accuracy column",
    ),
    "an emptied history of a finished run": (
        "trial_0/history_0.csv",
        lambda p: p.write_text(""),
        "its run finished, but it has no epoch",
    ),
    "a deleted history of a finished run": (
        "trial_0/history_0.csv",
        lambda p: p.unlink(),
        "No such file",
    ),
    "an accuracy no training logs": (
        "trial_0/history_0.csv",
        lambda p: _write_lines(
            p,
            lambda lines: [
                lines[0],
                ",".join(
                    "7.5" if name == "val_accuracy" else "0"
                    for name in lines[0].split(",")
                ),
            ],
        ),
        "line 2: val_accuracy 7.5 is outside 0 to 1",
    ),  # fmt: skip
    "a run record without its seed": (
        "trial_0/repeat_0.json",
        lambda p: _edit_json(p, lambda r: r.pop("seed")),
        "no int 'seed'",
    ),
}


@pytest.fixture(scope="module")
def finished_run(imdb_path, tmp_path_factory):
    """A finished one-trial grid, to damage copies of."""
    logdir = tmp_path_factory.mktemp("finished")
    argv = ["--variants", "Baseline", "--epochs", "1", "--limit", "64", "--seed", "1"]
    argv += ["--data", str(imdb_path), "--logdir", str(logdir), "-q"]
    assert search.main(argv) == 0
    return argv, logdir


@pytest.mark.parametrize("damage", DAMAGES)
def test_saved_state_that_is_valid_json_but_wrong_is_one_line(
    damage, finished_run, tmp_path, capsys
):
    argv, logdir = finished_run
    shutil.copytree(logdir, tmp_path / "logs")
    run_dir = RunDir(tmp_path / "logs" / "grid")
    name, change, reason = DAMAGES[damage]
    path = run_dir.root / name
    change(path)
    before = {p: p.read_bytes() for p in run_dir.root.rglob("*") if p.is_file()}
    argv = [*argv[:-3], "--logdir", str(tmp_path / "logs"), "-q"]
    for command, args in ((search.main, argv), (plot.main, [str(run_dir.root)])):
        status = command(args)
        one_line_error(status, capsys.readouterr().err, f"{str(path)!r} is damaged")
    with pytest.raises(UsageError, match=re.escape(reason)):
        load_trials(run_dir, run_dir.read_settings())
    after = {p: p.read_bytes() for p in run_dir.root.rglob("*") if p.is_file()}
    assert after == before  # refused before anything was written


def test_a_run_whose_files_are_all_gone_is_refused_not_dropped(
    finished_run, tmp_path, capsys
):
    """Both of a finished run's files deleted: the trial still says it
    ended, so Keras Tuner would not train the run again."""
    argv, logdir = finished_run
    shutil.copytree(logdir, tmp_path / "logs")
    run_dir = RunDir(tmp_path / "logs" / "grid")
    run_dir.history_csv("0", 0).unlink()
    run_dir.run_record("0", 0).unlink()
    before = {p: p.read_bytes() for p in run_dir.root.rglob("*") if p.is_file()}
    argv = [*argv[:-3], "--logdir", str(tmp_path / "logs"), "-q"]
    for command, args in ((search.main, argv), (plot.main, [str(run_dir.root)])):
        status = command(args)
        one_line_error(
            status,
            capsys.readouterr().err,
            f"{str(run_dir.trial_dir('0'))!r} is damaged (trial Baseline ended, "
            "but its run 0 left neither history_0.csv nor repeat_0.json)",
        )
    after = {p: p.read_bytes() for p in run_dir.root.rglob("*") if p.is_file()}
    assert after == before


def test_a_run_killed_mid_row_keeps_the_rows_before_it(tmp_path):
    path = tmp_path / "history_0.csv"
    path.write_text(
        "epoch,accuracy,loss,val_accuracy,val_loss\n0,0.5,0.7,0.5,0.7\n1,0.6,0."
    )
    assert read_history(path, strict=False)["loss"] == [0.7]
    with pytest.raises(UsageError, match="line 3 is not numbers"):
        read_history(path)
