"""A study stopped by the machine: a write that fails (a full disk) at any
stage stops it with one line, keeps what finished, and the same command
resumes it. Faults are injected `OSError`s at named writes."""

import errno
import json

import keras
import pytest

from tests.conftest import read_csv, run_search
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
        if in_second_trial(self.filepath) and epoch == 1:
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
