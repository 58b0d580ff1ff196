"""Bad data, shared run directories, failed trials, damaged state: one test per
kind of fault, each checked to end in one line (or a complete study), never a
traceback or a half-written run."""

import importlib.metadata
import json
import os
import signal
import subprocess
import sys

import keras
import numpy as np
import pytest
from keras.src.datasets import imdb as keras_imdb

from tuning import predict, search, study
from tuning.run_dir import RunDir, write_text_atomically
from tuning.scanned import ScannedSequential
from tuning.trials import failure_reason

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def tiny_npz(path, y_train=(1, 0, 1, 0), x_train=None, word_index=True):
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


def run_search(argv, logdir, capsys):
    status = search.main([*argv, "--logdir", str(logdir), "-q"])
    return status, capsys.readouterr().err.strip().splitlines()


def one_line_error(status, err, pattern):
    assert status == 2
    assert len(err) == 1 and err[0].startswith("error: "), err
    assert pattern in err[0], err[0]


# 1. One owner per run directory.
def test_a_second_run_on_a_run_directory_in_use_is_refused(imdb_path, tmp_path, capsys):
    argv = ["--variants", "Baseline", "--epochs", "1", "--limit", "64"]
    argv += ["--data", str(imdb_path)]
    with RunDir(tmp_path / "grid").owned():
        status, err = run_search(argv, tmp_path, capsys)
        one_line_error(status, err, "is in use by another run (pid ")
        assert str(os.getpid()) in err[0]
        assert [p.name for p in (tmp_path / "grid").iterdir()] == [".owner"]
    assert not (tmp_path / "grid").exists()  # the owner created it, and left


def test_a_killed_owner_leaves_no_stale_lock(tmp_path):
    code = (
        "import sys, time; from tuning.run_dir import RunDir\n"
        f"with RunDir({str(tmp_path / 'grid')!r}).owned():\n"
        "    print('owned', flush=True); time.sleep(300)\n"
    )
    owner = subprocess.Popen(
        [sys.executable, "-c", code], cwd=REPO, stdout=subprocess.PIPE, text=True
    )
    assert owner.stdout.readline().strip() == "owned"
    with pytest.raises(Exception, match="in use by another run"):
        with RunDir(tmp_path / "grid").owned():
            pass
    owner.send_signal(signal.SIGKILL)
    owner.wait()
    with RunDir(tmp_path / "grid").owned():  # the OS released the lock
        pass


# 2. Invalid data is refused before anything trains.
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


# 3. Paths and saved state a user broke: one line naming the file and the fix.
def test_a_logdir_that_is_a_file_is_one_line(imdb_path, tmp_path, capsys):
    logdir = tmp_path / "logs"
    logdir.write_text("not a directory")
    status, err = run_search(["--data", str(imdb_path)], logdir, capsys)
    one_line_error(status, err, "Pass a --logdir that is a writable directory")
    assert logdir.read_text() == "not a directory"


@pytest.mark.slow
@pytest.mark.parametrize("damaged", ["oracle.json", "trial_0/trial.json"])
def test_damaged_saved_state_names_the_file_and_overwrite(
    damaged, imdb_path, tmp_path, capsys
):
    argv = ["--variants", "Baseline", "--epochs", "1", "--limit", "64"]
    argv += ["--data", str(imdb_path), "--seed", "1"]
    assert search.main([*argv, "--logdir", str(tmp_path), "-q"]) == 0
    path = tmp_path / "grid" / damaged
    path.write_text(path.read_text()[:20])  # cut short, as by a full disk
    status, err = run_search(argv, tmp_path, capsys)
    one_line_error(status, err, f"{str(path)!r} is damaged")
    assert "--overwrite" in err[0]
    assert search.main([*argv, "--overwrite", "--logdir", str(tmp_path), "-q"]) == 0


@pytest.mark.parametrize("model", ["garbage", "lambda"])
def test_predict_on_a_model_it_cannot_load_is_one_line(model, tmp_path, capsys):
    run_dir = RunDir(tmp_path)
    run_dir.best_model.mkdir()
    (run_dir.best_model / "word_index.json").write_text('{"good": 1}')
    write_text_atomically(run_dir.study, '{"backend": "jax"}')
    target = run_dir.best_model / "model.keras"
    if model == "garbage":
        target.write_bytes(b"PK\x03\x04 not a model")
    else:  # code in a Lambda layer: safe mode refuses it
        keras.Sequential([keras.Input((2,)), keras.layers.Lambda(lambda x: x)]).save(
            target
        )
    assert predict.main([str(tmp_path), "great"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "Cannot load the best model" in err[0], err


# 4. What the end of a study needs is fetched before it trains.
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


# 5. Failed trials: the study still reports, and its exit status says so.
def test_a_study_of_failing_trials_reports_them_and_exits_1(
    imdb_path, tmp_path, capsys, monkeypatch, nan_hypermodel
):
    monkeypatch.setattr(study, "SentimentHyperModel", nan_hypermodel)
    argv = ["--variants", "Baseline,MSE Loss,Dropout,32 Units", "--epochs", "1"]
    argv += ["--limit", "64", "--data", str(imdb_path), "--seed", "1"]
    for _ in range(2):  # the rerun goes on, it does not raise again
        status, err = run_search(argv, tmp_path, capsys)
        assert status == 1
        assert err[-1].startswith("error: no trial completed")
    run_dir = tmp_path / "grid"
    rows = (run_dir / "results.csv").read_text().splitlines()
    # Three failures in a row stop a search; a rerun tries once more each time.
    assert len(rows) == 1 + 4 and all(",FAILED," in row for row in rows[1:])
    assert all("Loss became nan in epoch 1" in row for row in rows[1:])
    assert (run_dir / "report.md").is_file()
    assert not (run_dir / "best_model").exists()


# 6. Bounds: what cannot work is refused before training.
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


# 7. Files a reader opens appear whole or not at all.
@pytest.mark.slow
def test_a_run_leaves_no_partial_files(grid_run):
    _, run_dir = grid_run
    leftovers = [p for p in run_dir.rglob(".*") if p.name != ".owner"]
    assert leftovers == []
    assert not (run_dir / ".owner").exists()  # released at the end
    best = run_dir / "best_model"
    assert sorted(p.name for p in best.iterdir()) == [
        "model.keras",
        "trial.json",
        "word_index.json",
    ]


@pytest.mark.slow
def test_an_export_cut_short_keeps_the_previous_best_model(
    grid_run, tmp_path, monkeypatch
):
    import shutil

    from tuning import best_model

    run_dir = RunDir(tmp_path / "copy")
    shutil.copytree(grid_run[1] / "best_model", run_dir.best_model)
    before = {p.name: p.read_bytes() for p in run_dir.best_model.iterdir()}

    def killed(*args, **kwargs):
        raise KeyboardInterrupt  # the kill arrives while model.keras is written

    monkeypatch.setattr(keras.Model, "save", killed)
    model = keras.saving.load_model(run_dir.best_model / "model.keras")

    class Tuner:  # only what export_best_model reads
        class oracle:
            objective = type("Objective", (), {"name": "val_accuracy"})

            @staticmethod
            def get_best_trials(n):
                return [type("T", (), {"status": "COMPLETED", "trial_id": "0"})]

        load_model = staticmethod(lambda trial: model)

    with pytest.raises(KeyboardInterrupt):
        best_model.export_best_model(Tuner, run_dir, {"w": 1})
    after = {p.name: p.read_bytes() for p in run_dir.best_model.iterdir()}
    assert after == before


# 9. Callbacks and `-v` see the epoch's real batch numbers.
def test_callbacks_see_the_last_batch_of_a_short_epoch():
    model = ScannedSequential(
        [keras.Input((4,)), keras.layers.Dense(1, activation="sigmoid")]
    )
    model.compile("adam", "binary_crossentropy", steps_per_execution=1024)
    seen = []
    record = keras.callbacks.LambdaCallback(
        on_train_batch_end=lambda batch, logs: seen.append(batch)
    )
    x, y = np.ones((100, 4)), np.ones(100)
    model.fit(x, y, batch_size=32, epochs=2, verbose=0, callbacks=[record])
    assert seen == [3, 3]  # 4 batches of 32: the last is batch 3, not 1023
    assert model.steps_per_execution == 1024


# 10. A run on a CPU machine prints nothing alarming on stderr.
@pytest.mark.slow
def test_a_run_prints_no_native_log_lines(imdb_path, tmp_path):
    argv = ["--variants", "Baseline", "--epochs", "1", "--limit", "64", "-q"]
    argv += ["--data", str(imdb_path), "--logdir", str(tmp_path)]
    env = {k: v for k, v in os.environ.items() if not k.startswith("TF_")}
    result = subprocess.run(
        [sys.executable, "-m", "tuning.search", *argv],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stderr == ""


# 8. One checkpoint across a trial's repeats keeps the best epoch of any run.
@pytest.mark.slow
# Keras Tuner's `load_model` builds no optimizer: its saved state is skipped.
@pytest.mark.filterwarnings("ignore:Skipping variable loading")
def test_the_checkpoint_keeps_the_best_epoch_over_all_repeats(imdb_path, tmp_path):
    from hypermodels import SentimentHyperModel
    from tuning.data import load_imdb
    from tuning.modes import make_oracle
    from tuning.settings import StudySettings
    from tuning.trials import load_trials
    from tuning.tuner import StudyTuner

    settings = StudySettings(variants=("Baseline",), repeats=3, seed=1)
    run_dir = RunDir(tmp_path)
    tuner = StudyTuner(make_oracle(settings), SentimentHyperModel(), run_dir, settings)
    data = load_imdb(imdb_path).head(400)
    validation = (data.x_test, data.y_test)
    tuner.search(
        data.x_train, data.y_train, validation_data=validation, epochs=3, verbose=0
    )
    (record,) = load_trials(run_dir)
    bests = [max(run.history["val_accuracy"]) for run in record.runs]
    assert max(bests) > bests[-1]  # so a checkpoint per run would keep the last's
    (trial,) = tuner.oracle.trials.values()
    model = tuner.load_model(trial)
    _, accuracy = model.evaluate(*validation, batch_size=400, verbose=0)
    assert accuracy == pytest.approx(max(bests), abs=1e-6)


# 10 (continued). A JAX run never needs TensorFlow, nor a grid scikit-learn:
# it writes everything without TensorFlow installed, and where it is
# installed never loads it (3.5-5 s), nor scikit-learn.
@pytest.mark.slow
@pytest.mark.parametrize("tensorflow", ["not installed", "installed"])
def test_a_jax_run_writes_everything_without_loading_tensorflow(
    imdb_path, tmp_path, tensorflow
):
    from tensorboard.backend.event_processing import event_accumulator

    argv = ["--variants", "Baseline", "--epochs", "2", "--limit", "64", "-q"]
    argv += ["--data", str(imdb_path), "--logdir", str(tmp_path)]
    if tensorflow == "installed":
        importlib.metadata.version("tensorflow")  # the [dev] extra installs it
    code = (
        "import sys\n"
        + (
            "sys.modules['tensorflow'] = None  # as if not installed\n"
            if tensorflow == "not installed"
            else ""
        )
        + "from tuning import search\n"
        + f"status = search.main({argv!r})\n"
        "assert sys.modules['tensorflow'] is None, 'TensorFlow was loaded'\n"
        "assert sys.modules['sklearn'] is None, 'scikit-learn was loaded'\n"
        "sys.exit(status)\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "KERAS_BACKEND"}
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stderr == ""
    run_dir = tmp_path / "grid"
    assert (run_dir / "best_model" / "model.keras").is_file()
    events = event_accumulator.EventAccumulator(
        str(run_dir / "tensorboard" / "Baseline" / "validation"),
        size_guidance={event_accumulator.TENSORS: 0},
    )
    events.Reload()
    assert [e.step for e in events.Tensors("epoch_accuracy")] == [0, 1]


def test_a_backend_that_is_not_installed_is_one_line(tmp_path, capsys, monkeypatch):
    import importlib.util

    find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *args: None if name == "tensorflow" else find_spec(name, *args),
    )
    status, err = run_search(["--backend", "tensorflow"], tmp_path / "logs", capsys)
    one_line_error(status, err, "The tensorflow backend is not installed")
    assert 'pip install -e ".[tensorflow]"' in err[0]
    assert not (tmp_path / "logs").exists()
