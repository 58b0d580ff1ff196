import pytest

from tests.conftest import fabricated_history, fabricated_trial
from tuning.analysis import analyze
from tuning.objective import Objective
from tuning.records import RunRecord, TrialRecord
from tuning.settings import TEST_AS_VALIDATION, StudySettings
from tuning.tables import format_table, history_rows, result_row, run_rows

SETTINGS = StudySettings(variants=("A",), epochs=3, seed=1)


def first_trial(record, settings=SETTINGS):
    analysis = analyze([record], settings)
    return analysis.trials[0], analysis


def test_result_row_takes_the_best_epoch_one_based_and_final_values():
    row = result_row(*first_trial(fabricated_trial("A", [0.70, 0.85, 0.80])))
    assert row["best_val_accuracy"] == 0.85 and row["best_epoch"] == 2
    assert row["final_val_accuracy"] == 0.80
    assert row["final_val_loss"] == pytest.approx(0.8)
    assert row["final_accuracy"] == pytest.approx(0.7)
    assert row["final_loss"] == pytest.approx(0.8)
    assert row["epochs"] == 3 and row["units"] == 64
    assert row["protocol"] == TEST_AS_VALIDATION
    assert row["objective_metric"] == "val_accuracy"


def test_result_row_follows_the_objective():
    loss = StudySettings(objective=Objective.named("val_loss"))
    row = result_row(*first_trial(fabricated_trial("A", [0.70, 0.85, 0.80]), loss))
    assert row["best_epoch"] == 3 and row["objective_metric"] == "val_loss"
    assert row["objective_mean"] == pytest.approx(0.8)


def test_result_row_of_a_trial_without_epochs_has_no_metrics():
    row = result_row(*first_trial(TrialRecord("1", "B", "RUNNING", {}, [])))
    assert row["epochs"] == 0 and "best_val_accuracy" not in row
    assert row["repeats"] == 0 and "objective_mean" not in row


def test_history_rows_are_one_per_run_and_epoch():
    trial, _ = first_trial(fabricated_trial("A", [0.7, 0.8], repeats=2))
    rows = history_rows(trial, TEST_AS_VALIDATION)
    assert [(r["repeat"], r["epoch"]) for r in rows] == [(0, 1), (0, 2), (1, 1), (1, 2)]
    assert rows[1]["val_accuracy"] == 0.8


def test_run_rows_give_each_finished_run_its_seed_and_metrics():
    trial = fabricated_trial("A", [0.70, 0.85, 0.80], shifts=[0.0, 0.01])
    unfinished = RunRecord(2, fabricated_history([0.9]), finished=False)
    trial = TrialRecord("A", "A", "RUNNING", {}, [*trial.runs, unfinished])
    rows = run_rows(*first_trial(trial))
    assert [(r["repeat"], r["seed"]) for r in rows] == [(0, 1), (1, 2)]
    assert rows[1]["best_val_accuracy"] == pytest.approx(0.86)
    assert rows[1]["best_epoch"] == 2 and rows[1]["final_val_accuracy"] == 0.81


def test_the_terminal_table_names_the_protocol_the_objective_and_every_trial():
    trials = [fabricated_trial(n, [0.7]) for n in ("A", "B")]
    settings = StudySettings(objective=Objective.named("val_loss"))
    table = format_table(analyze(trials, settings)).splitlines()
    assert "test reviews, every epoch (notebook protocol)" in table[0]
    assert "by val_loss" in table[0]
    assert table[1].split()[0] == "label"
    assert [line.split()[0] for line in table[2:]] == ["A", "B"]


def test_numbers_that_one_run_cannot_give_are_blank_in_the_csv(tmp_path):
    from tests.conftest import read_csv
    from tuning.run_dir import RunDir
    from tuning.tables import write_tables

    trials = [fabricated_trial("A", [0.80]), fabricated_trial("B", [0.70])]
    analysis = analyze(trials, StudySettings(seed=1, reference="A"))
    write_tables(RunDir(tmp_path), analysis)
    a, b = read_csv(RunDir(tmp_path).results_csv)
    assert a["objective_mean"] == "0.8" and a["objective_std"] == ""
    assert b["difference"] != "" and b["difference_ci_low"] == ""
    assert b["p_beats_reference"] == "" and b["interval"] == ""
    assert "nan" not in RunDir(tmp_path).results_csv.read_text()


def test_importance_csv_has_a_row_per_share_largest_first(tmp_path, assessed_search):
    from tests.conftest import read_csv
    from tuning.importance_outputs import write_importance_table
    from tuning.run_dir import RunDir

    analysis, importance = assessed_search
    write_importance_table(RunDir(tmp_path), importance)
    rows = read_csv(tmp_path / "importance.csv")
    overall = [r for r in rows if r["among"] == "all trials"]
    assert [r["hyperparameter"] for r in rows[:1]] == ["learning_rate"]
    assert rows[0]["scale"] == "log" and rows[0]["trials"] == "30"
    shares = [float(r["share"]) for r in overall]
    assert shares == sorted(shares, reverse=True)
    assert all(float(r["ci_low"]) <= float(r["ci_high"]) for r in rows)
    conditional = {r["hyperparameter"]: r["among"] for r in rows[len(overall) :]}
    assessed = {"dropout": "dropout_on = True", "l2": "l2_on = True"}
    assert conditional == {k: v for k, v in assessed.items()
                           if k not in importance.too_few}  # fmt: skip
    assert conditional  # a rate was assessed among the trials that have it
