"""A study stopped by the machine or its user: a write that fails (a full
disk) at any stage, a Ctrl-C or a SIGTERM stops it with one line, keeps
what finished, and the same command resumes it. Faults are injected at
named points: `OSError`s at named writes, signals at a named epoch."""

import errno
import json

import keras
import pytest

from tests.conftest import read_csv, run_search, run_with_fault
from tuning import tables
from tuning.run_dir import RunDir

DISK_FULL = errno.ENOSPC


def disk_full(path) -> OSError:
    return OSError(DISK_FULL, "No space left on device", str(path))


def in_second_trial(path) -> bool:
    return "trial_1" in str(path)


def full_while_logging_an_epoch(monkeypatch):
    log = keras.callbacks.CSVLogger.on_epoch_end

    def on_epoch_end(self, epoch, logs=None):
        if in_second_trial(self.filename) and epoch == 1:
            raise disk_full(self.filename)
        log(self, epoch, logs)

    monkeypatch.setattr(keras.callbacks.CSVLogger, "on_epoch_end", on_epoch_end)


def full_while_writing_a_checkpoint(monkeypatch):
    save = keras.callbacks.ModelCheckpoint._save_model

    def save_cut_short(self, epoch, batch, logs):
        if in_second_trial(self.filepath):
            with open(self.filepath, "wb") as truncated:
                truncated.write(b"\x89HDF\r\n")  # the first bytes, and no room
            raise disk_full(self.filepath)
        save(self, epoch, batch, logs)

    monkeypatch.setattr(keras.callbacks.ModelCheckpoint, "_save_model", save_cut_short)


def full_while_writing_the_results(monkeypatch):
    write = tables.write_text_atomically

    def write_or_fail(path, text):
        if path.name == "results.csv":
            raise disk_full(path)
        write(path, text)

    monkeypatch.setattr(tables, "write_text_atomically", write_or_fail)


def full_while_exporting_the_model(monkeypatch):
    def save(self, path, *args, **kwargs):
        raise disk_full(path)

    monkeypatch.setattr(keras.Model, "save", save)


FAULTS = {
    "logging an epoch": (full_while_logging_an_epoch, "history_0.csv"),
    "writing a checkpoint": (full_while_writing_a_checkpoint, "checkpoint.weights.h5"),
    "writing the results": (full_while_writing_the_results, "results.csv"),
    "exporting the model": (full_while_exporting_the_model, "model.keras"),
}


@pytest.mark.slow
@pytest.mark.parametrize("fault", FAULTS)
def test_a_full_disk_stops_the_study_and_the_same_command_resumes_it(
    fault, imdb_path, tmp_path, capsys, monkeypatch
):
    argv = ["--variants", "Baseline,Dropout", "--epochs", "2", "--limit", "64"]
    argv += ["--seed", "1", "--data", str(imdb_path)]
    run_dir = RunDir(tmp_path / "grid")
    inject, file_name = FAULTS[fault]
    with monkeypatch.context() as patches:
        inject(patches)
        status, err = run_search(argv, tmp_path, capsys)
    lines = err.strip().splitlines()
    assert status == 1 and len(lines) == 1, lines
    assert "No space left on device" in lines[0] and file_name in lines[0]
    assert "run the same command to resume" in lines[0]
    assert not run_dir.best_model_partial.root.exists()
    first = json.loads(run_dir.trial_file("0").read_text())
    assert first["status"] == "COMPLETED"
    kept = run_dir.history_csv("0", 0).stat().st_mtime_ns
    second = json.loads(run_dir.trial_file("1").read_text())
    assert second["status"] != "FAILED"  # the machine's fault, not the trial's

    status, _ = run_search(argv, tmp_path, capsys)  # room again
    assert status == 0
    assert run_dir.history_csv("0", 0).stat().st_mtime_ns == kept  # not retrained
    results = read_csv(run_dir.results_csv)
    assert [(r["label"], r["status"], r["epochs"]) for r in results] == [
        ("Baseline", "COMPLETED", "2"),
        ("Dropout", "COMPLETED", "2"),
    ]
    assert run_dir.best_model.model.is_file()


@pytest.mark.slow
@pytest.mark.parametrize(
    "name, how, status, line, epochs",
    [  # each signal, and each way a signal lands; the two cross in the code
        ("INT", "swallowed", 130, "Interrupted.", 2),
        ("TERM", "raised", 143, "Terminated.", 1),
    ],
)
def test_one_ctrl_c_or_sigterm_stops_the_study_within_the_epoch(
    name, how, status, line, epochs, imdb_path, tmp_path, capsys
):
    """The signal comes as epoch 2 of the second trial begins; a swallowed
    one stops the study at that epoch's end, a raised one at once."""
    argv = ["--variants", "Baseline,Dropout", "--epochs", "3", "--limit", "64"]
    argv += ["--seed", "1", "--data", str(imdb_path)]
    fault = ["signal-at-epoch", name, "2", "1", how]
    stopped = run_with_fault(
        fault, "tuning.search", [*argv, "--logdir", str(tmp_path), "-q"]
    )
    assert stopped.returncode == status, stopped.stderr[-2000:]
    lines = stopped.stderr.strip().splitlines()
    assert lines[-1] == f"{line} Run the same command again to resume."
    assert "Traceback" not in stopped.stderr
    run_dir = RunDir(tmp_path / "grid")
    assert len(read_csv(run_dir.history_csv("1", 0))) == epochs
    assert json.loads(run_dir.trial_file("1").read_text())["status"] == "RUNNING"
    assert not run_dir.run_record("1", 0).exists()

    resumed, err = run_search(argv, tmp_path, capsys)
    assert resumed == 0, err[-2000:]
    results = read_csv(run_dir.results_csv)
    assert [(r["status"], r["epochs"]) for r in results] == [("COMPLETED", "3")] * 2


def auto_argv(imdb_path, logdir):
    """Three variants in rounds with a margin too narrow to settle any
    comparison: every round up to 5 runs a trial is trained."""
    argv = ["--variants", "Baseline,Dropout,L2 Regularization", "--repeats", "auto"]
    argv += ["--max-repeats", "5", "--margin", "0.0001", "--epochs", "1"]
    return argv + ["--limit", "640", "--seed", "4", "--data", str(imdb_path)]


@pytest.mark.slow
def test_repeats_auto_trains_in_rounds_and_a_killed_study_goes_on(
    imdb_path, tmp_path, capsys
):
    whole = tmp_path / "whole"
    status, _ = run_search(auto_argv(imdb_path, whole), whole, capsys)
    assert status == 0
    run_dir = RunDir(whole / "grid")
    runs = read_csv(run_dir.runs_csv)
    counts = {label: sum(r["label"] == label for r in runs) for label in
              ("Baseline", "Dropout", "L2 Regularization")}  # fmt: skip
    # Looks at 3, 4 and 5 runs; the reference, whose run k each pairs with, too.
    assert counts == {"Baseline": 5, "Dropout": 5, "L2 Regularization": 5}
    assert [r["round"] for r in runs if r["label"] == "Dropout"] == [
        "1", "1", "1", "2", "3",
    ]  # fmt: skip
    results = {r["label"]: r for r in read_csv(run_dir.results_csv)}
    assert results["Dropout"]["verdict"] == "undecided"
    assert results["Dropout"]["margin"] == "0.0001"
    report = run_dir.report.read_text()
    assert "- Undecided: Dropout (5 runs: " in report
    assert "the margin, > 1000 runs per trial would decide it)." in report
    assert "Rounds (`--repeats auto`, up to 5 runs a trial)" in report
    assert "the reference's [3, 4, 5] (as many: each trial's run k" in report

    # The same study killed in its second round (Dropout's run of it, trial
    # 4), then resumed.
    killed = tmp_path / "killed"
    argv = [*auto_argv(imdb_path, killed), "--logdir", str(killed), "-q"]
    stopped = run_with_fault(["kill-after-run", "3", "4"], "tuning.search", argv)
    assert stopped.returncode == -9, stopped.stderr[-2000:]
    again = RunDir(killed / "grid")
    finished = {
        path: path.stat().st_mtime_ns for path in again.root.glob("trial_*/repeat_*")
    }
    status, _ = run_search(auto_argv(imdb_path, killed), killed, capsys)
    assert status == 0
    assert {p: p.stat().st_mtime_ns for p in finished} == finished  # none again
    resumed = read_csv(again.runs_csv)
    assert [(r["label"], r["repeat"], r["seed"], r["round"]) for r in resumed] == [
        (r["label"], r["repeat"], r["seed"], r["round"]) for r in runs
    ]
