import json
import shutil
import signal

import pytest

from tests.conftest import (
    analysed_pair,
    fabricated_trial,
    grid_argv,
    one_line_error,
    read_csv,
    run_with_fault,
)
from tuning import compare, search
from tuning.analysis import analyze
from tuning.settings import StudySettings
from tuning.two_studies import compare_studies


@pytest.fixture(scope="session")
def other_seeds(imdb_path, tmp_path_factory):
    """The noise pair's study again, from seed 6."""
    logdir = tmp_path_factory.mktemp("other-seeds")
    argv = grid_argv(imdb_path, logdir, "Baseline,32 Units", repeats=3, seed=6)
    assert search.main(argv) == 0
    return logdir / "grid"


def run_compare(argv, capsys):
    status = compare.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return status, out, err


def edited_copy(run_dir, destination, **settings):
    """A copy of `run_dir` whose study.json says `settings`."""
    shutil.copytree(run_dir, destination)
    study = destination / "study.json"
    study.write_text(json.dumps({**json.loads(study.read_text()), **settings}))
    return destination


@pytest.mark.slow
def test_the_same_study_from_other_seeds_is_never_better_or_worse(
    noise_pair, other_seeds, tmp_path, capsys
):
    output = tmp_path / "out"
    argv = [noise_pair, other_seeds, "--output", output]
    status, out, _ = run_compare(argv, capsys)
    assert status == 0 and out.strip().splitlines()[-1] == str(output)
    rows = {row["label"]: row for row in read_csv(output / "compare.csv")}
    assert set(rows) == {"Baseline", "32 Units"}
    for row in rows.values():
        assert row["runs_a"] == row["runs_b"] == "3"
        assert row["verdict"] not in ("better", "worse")
        assert float(row["difference"]) == pytest.approx(
            float(row["mean_b"]) - float(row["mean_a"])
        )
        assert float(row["difference_ci_low"]) < float(row["difference"])
    report = (output / "compare.md").read_text()
    assert "Settings that differ: seed 5 vs 6." in report
    assert "simultaneous 95% interval over 2 pair(s)" in report
    assert (output / "compare.png").read_bytes()[:4] == b"\x89PNG"


@pytest.mark.slow
def test_studies_that_measure_differently_are_refused_unless_allowed(
    noise_pair, tmp_path, capsys
):
    shorter = edited_copy(noise_pair, tmp_path / "shorter", epochs=2)
    status, out, err = run_compare([noise_pair, shorter], capsys)
    one_line_error(status, err, "measure differently (epochs 3 vs 2)")
    assert not (tmp_path / "compare-grid-vs-shorter").exists()
    argv = [noise_pair, shorter, "--allow-differences", "--output", tmp_path / "o"]
    status, out, err = run_compare(argv, capsys)
    assert status == 0 and "note: the studies differ in epochs 3 vs 2" in err
    report = (tmp_path / "o" / "compare.md").read_text()
    assert "**These change what the objective measures: epochs." in report
    by_loss = edited_copy(noise_pair, tmp_path / "by_loss", objective="val_loss")
    argv = [noise_pair, by_loss, "--allow-differences", "--output", tmp_path / "l"]
    status, out, err = run_compare(argv, capsys)
    one_line_error(
        status, err, "optimize different objectives (val_accuracy vs val_loss)"
    )
    assert not (tmp_path / "l").exists()


@pytest.mark.slow
def test_a_study_without_repeats_gets_no_verdict(noise_pair, tmp_path, capsys):
    single = edited_copy(noise_pair, tmp_path / "single", repeats=1)
    status, _, err = run_compare([single, noise_pair], capsys)
    one_line_error(status, err, "trained one run per trial: no verdict is possible")


def test_paths_that_are_not_run_directories_are_refused(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    status, _, err = run_compare([tmp_path / "empty", tmp_path / "missing"], capsys)
    one_line_error(status, err, "is not a run directory (no study.json)")
    status, _, err = run_compare([tmp_path / "empty", tmp_path / "empty"], capsys)
    one_line_error(status, err, "RUN_A and RUN_B are the same run")


def test_searches_are_matched_by_hyperparameters_not_labels():
    settings = StudySettings(mode="random", seed=1, repeats=5)

    def study(labels_and_units, shift):
        trials = []
        for label, units in labels_and_units:
            trial = fabricated_trial(
                label, [0.8], repeats=5, shifts=[shift + 0.001 * k for k in range(5)]
            )
            trials.append(
                trial.__class__(
                    **{**trial.__dict__, "hyperparameters": {"units": units}}
                )
            )
        return analyze(trials, settings)  # fmt: skip

    a = study([("a0", 32), ("a1", 64), ("a2", 128)], 0.0)
    b = study([("b0", 64), ("b1", 256), ("b2", 32)], 0.03)
    two = compare_studies(a, b)
    assert [(p.label, p.b.label) for p in two.pairs] == [("a0", "b2"), ("a1", "b0")]
    assert two.only_a == ["a2"] and two.only_b == ["b1"]
    assert all(p.comparison.verdict == "better" for p in two.pairs)
    assert two.family.comparisons == 2 and two.family.correlation == 0


def test_a_trial_that_changed_is_worse_and_one_that_did_not_is_not():
    two = compare_studies(analysed_pair(0.0), analysed_pair(-0.02))
    verdicts = {p.label: p.comparison.verdict for p in two.pairs}
    assert verdicts["B"] == "worse" and verdicts["A"] not in ("better", "worse")
    assert two.pairs[1].comparison.difference == pytest.approx(-0.02)


def test_a_bad_flag_is_one_line_as_in_search(tmp_path, capsys):
    (tmp_path / "a").mkdir()
    status, _, err = run_compare(
        [tmp_path / "a", tmp_path / "a", "--margin", "0"], capsys
    )
    assert status == 2 and len(err.strip().splitlines()) == 1, err
    assert "--margin: expected a positive number, received '0'" in err


@pytest.mark.slow
def test_compare_writes_only_where_it_may(noise_pair, other_seeds, tmp_path, capsys):
    def refused(output, pattern, status=2):
        before = {p: p.stat().st_mtime_ns for p in noise_pair.rglob("*")}
        code, _, err = run_compare(
            [noise_pair, other_seeds, "--output", output], capsys
        )
        lines = err.strip().splitlines()
        assert code == status and len(lines) == 1 and pattern in lines[0], lines
        assert {p: p.stat().st_mtime_ns for p in noise_pair.rglob("*")} == before

    refused(noise_pair / "mine", "is inside the run")
    refused(noise_pair / "trial_0", "is inside the run")
    refused(other_seeds, "is inside the run")
    refused("", "--output: expected a directory, received ''")
    (tmp_path / "a_file").write_text("x")
    refused(tmp_path / "a_file", "is a file")
    (tmp_path / "theirs").mkdir()
    (tmp_path / "theirs" / "compare.md").write_text("# my notes\n")
    refused(tmp_path / "theirs", "compares other studies")
    assert (tmp_path / "theirs" / "compare.md").read_text() == "# my notes\n"
    refused(tmp_path / "a_file" / "out", "Not a directory", status=1)
    refused(tmp_path / ("x" * 300), "File name too long", status=1)


@pytest.mark.slow
def test_a_study_stopped_before_its_end_is_not_compared(
    noise_pair, other_seeds, tmp_path, capsys
):
    killed = edited_copy(other_seeds, tmp_path / "killed")
    trial = killed / "trial_1" / "trial.json"
    trial.write_text(json.dumps({**json.loads(trial.read_text()), "status": "RUNNING"}))
    oracle = killed / "oracle.json"
    state = json.loads(oracle.read_text())
    end_order = [t for t in state["end_order"] if t != "1"]  # killed in trial 1
    oracle.write_text(json.dumps({**state, "end_order": end_order}))
    status, _, err = run_compare([noise_pair, killed], capsys)
    one_line_error(status, err, "is not finished (32 Units)")


@pytest.mark.slow
def test_a_search_stopped_between_trials_is_not_compared(imdb_path, tmp_path, capsys):
    argv = ["--mode", "random", "--max-trials", "3", "--repeats", "2"]
    argv += ["--epochs", "1", "--limit", "64", "--seed", "1", "-q"]
    argv += ["--data", str(imdb_path), "--logdir", str(tmp_path)]
    killed = run_with_fault(["kill-after-trial-ends", "1"], "tuning.search", argv)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    run_dir = tmp_path / "random"
    state = json.loads((run_dir / "oracle.json").read_text())
    assert state["start_order"] == state["end_order"] == ["0"]  # nothing running
    copy = shutil.copytree(run_dir, tmp_path / "copy")
    status, _, err = run_compare([run_dir, copy], capsys)
    one_line_error(status, err, "is not finished: it is running, or stopped")


def test_every_setting_is_classified_for_comparing_two_studies():
    import dataclasses

    from tuning.settings import StudySettings
    from tuning.two_studies import CIRCUMSTANCES, MEASUREMENT, NOT_COMPARED

    classes = [*MEASUREMENT, *CIRCUMSTANCES, *NOT_COMPARED]
    assert len(classes) == len(set(classes))  # each in one class
    assert set(classes) == {f.name for f in dataclasses.fields(StudySettings)}
