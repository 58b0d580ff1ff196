"""The run directory: its lock, its saved state, the resume check, its files."""

import ast
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO, one_line_error, read_csv, run_search
from tuning import search
from tuning.errors import UsageError
from tuning.run_dir import RunDir
from tuning.settings import StudySettings


def test_a_second_run_on_a_run_directory_in_use_is_refused(imdb_path, tmp_path, capsys):
    argv = ["--variants", "Baseline", "--epochs", "1", "--limit", "64"]
    argv += ["--data", str(imdb_path)]
    with RunDir(tmp_path / "grid").owned():
        status, err = run_search(argv, tmp_path, capsys)
        one_line_error(status, err, "is in use by another run (pid ")
        assert str(os.getpid()) in err
        assert [p.name for p in (tmp_path / "grid").iterdir()] == [".owner"]
    assert not (tmp_path / "grid").exists()  # the owner created it, and left


def test_a_killed_owner_leaves_no_stale_lock(tmp_path):
    code = (
        "import sys; from tuning.run_dir import RunDir\n"
        f"with RunDir({str(tmp_path / 'grid')!r}).owned():\n"
        "    print('owned', flush=True); sys.stdin.read()\n"
    )
    owner = subprocess.Popen(
        [sys.executable, "-c", code],
        cwd=REPO,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert owner.stdout.readline().strip() == "owned"  # it holds the lock now
    with pytest.raises(UsageError, match="in use by another run"):
        with RunDir(tmp_path / "grid").owned():
            pass
    owner.send_signal(signal.SIGKILL)
    owner.communicate()  # reaps it and closes its pipes
    with RunDir(tmp_path / "grid").owned():  # the OS released the lock
        pass


def test_a_logdir_that_is_a_file_is_one_line(imdb_path, tmp_path, capsys):
    logdir = tmp_path / "logs"
    logdir.write_text("not a directory")
    status, err = run_search(["--data", str(imdb_path)], logdir, capsys)
    one_line_error(status, err, "Pass a --logdir that is a writable directory")
    assert logdir.read_text() == "not a directory"


def test_a_directory_without_study_json_is_not_resumed(tmp_path):
    run_dir = RunDir(tmp_path)
    assert run_dir.resumed_settings() is None  # empty: a new run
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(UsageError, match="holds no study.json. Pass --overwrite"):
        run_dir.resumed_settings()
    with pytest.raises(UsageError, match="is not a run directory"):
        run_dir.read_settings()


@pytest.mark.parametrize("damaged", ["oracle.json", "trial_0/trial.json"])
def test_damaged_saved_state_names_the_file_and_overwrite(damaged, tmp_path):
    run_dir = RunDir(tmp_path)
    run_dir.write_settings(StudySettings(seed=1))
    path = tmp_path / damaged
    path.parent.mkdir(exist_ok=True)
    path.write_text('{"start_order": ["0"')  # cut short, as by a full disk
    with pytest.raises(UsageError, match=f"{str(path)!r} is damaged.*--overwrite"):
        run_dir.resumed_settings()


def test_resuming_with_other_settings_names_them():
    run_dir, saved = RunDir("unused"), StudySettings(seed=1, epochs=3)
    run_dir.check_resumable(saved, saved)
    run_dir.check_resumable(None, StudySettings(seed=2))  # a new run
    with pytest.raises(
        UsageError, match="started with epochs 3 .now 4.; seed 1 .now 2."
    ):
        run_dir.check_resumable(saved, StudySettings(seed=2, epochs=4))
    auto = StudySettings(seed=1, repeats=4, max_repeats=12)
    with pytest.raises(
        UsageError, match="repeats 4 .now 3.; max_repeats 12 .now none."
    ):
        run_dir.check_resumable(auto, StudySettings(seed=1, repeats=3))


# Named by Keras Tuner itself, beside its oracle.json.
KERAS_TUNER_FILES = {"tuner0.json"}
# The file names a module may spell that are not a run's: the dataset's.
DATA_FILES = {("text.py", "imdb_word_index.json")}
FILE_NAME = re.compile(r"\.(csv|json|md|png|h5|keras|log|partial|old)$")


@pytest.mark.slow
def test_every_file_a_run_writes_is_one_its_run_directory_names(grid_run):
    _, root = grid_run
    run_dir = RunDir(root)
    labels = [row["label"] for row in read_csv(run_dir.results_csv)]
    named = {
        run_dir.study, run_dir.oracle, run_dir.search_ended, run_dir.results_csv,
        run_dir.runs_csv,
        run_dir.histories_csv, run_dir.report, run_dir.best_model.model,
        run_dir.best_model.vocabulary, run_dir.best_model.description,
        *(run_dir.figure(f"{kind}{metric}") for metric in ("accuracy", "loss")
          for kind in ("val_", "overfitting_")),
        run_dir.figure("comparison"),
        *(root / name for name in KERAS_TUNER_FILES),
    }  # fmt: skip
    for trial_dir in root.glob("trial_*"):
        trial_id = trial_dir.name.removeprefix("trial_")
        named |= {run_dir.trial_file(trial_id), run_dir.checkpoint(trial_id)}
        for repeat in run_dir.repeats(trial_id):
            named |= {run_dir.history_csv(trial_id, repeat)}
            named |= {run_dir.run_record(trial_id, repeat)}
    written = {p for p in root.rglob("*") if p.is_file()}
    outside_board = {p for p in written if not p.is_relative_to(run_dir.tensorboard)}
    assert outside_board == named
    boards = {run_dir.board_dir(label, 0, repeats=1) for label in labels}
    assert set(run_dir.tensorboard.iterdir()) == boards | {run_dir.board_report}
    assert all(p.name.startswith("events.out.tfevents.") for p in written - named)


def _string_constants(path: Path):
    """The string literals of a module, its docstrings left out."""
    tree = ast.parse(path.read_text())
    documented = (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, documented) and node.body
        if isinstance(node.body[0], ast.Expr)
    }
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            if id(node) not in docstrings:
                yield node.value


def test_no_module_but_run_dir_spells_a_file_name():
    modules = [*(REPO / "tuning").rglob("*.py"), *(REPO / "hypermodels").rglob("*.py")]
    spelled = {
        (path.name, text)
        for path in modules
        if path.name != "run_dir.py"
        for text in _string_constants(path)
        if FILE_NAME.search(text.strip())
    }
    assert spelled == DATA_FILES
    assert len(modules) > 30  # the scan found the package


@pytest.mark.slow
def test_a_run_leaves_no_partial_files(grid_run):
    _, run_dir = grid_run
    leftovers = [p for p in run_dir.rglob(".*") if p.name != ".owner"]
    assert leftovers == []
    assert not (run_dir / ".owner").exists()  # released at the end
    best = RunDir(run_dir).best_model
    assert sorted(p.name for p in best.root.iterdir()) == sorted(
        p.name for p in (best.model, best.vocabulary, best.description)
    )


@pytest.mark.slow
def test_resuming_a_finished_grid_with_other_settings_is_refused(grid_run, capsys):
    _, run_dir = grid_run
    data = RunDir(run_dir).read_settings().data
    argv = ["--epochs", "2", "--limit", "256", "--logdir", str(run_dir.parent)]
    assert search.main([*argv, "--data", data]) == 2
    assert "was started with epochs 1 (now 2)" in capsys.readouterr().err
