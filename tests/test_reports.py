import math

import pytest

from tuning.plots import (
    comparison_intervals,
    draw_curves,
    draw_intervals,
    draw_panels,
    overfitting_panels,
    select_trials,
    trial_colors,
    validation_curves,
)
from tuning.reports import (
    add_comparisons,
    format_table,
    history_rows,
    result_row,
    run_rows,
    study_summary,
)
from tuning.settings import TEST_AS_VALIDATION, StudySettings
from tuning.trials import RunRecord, TrialRecord


def history(val_accuracy, shift=0.0):
    epochs = len(val_accuracy)
    return {
        "epoch": list(range(epochs)),
        "accuracy": [0.5 + 0.1 * e for e in range(epochs)],
        "loss": [1.0 - 0.1 * e for e in range(epochs)],
        "val_accuracy": [v + shift for v in val_accuracy],
        "val_loss": [0.9 - 0.05 * e - shift for e in range(epochs)],
    }


def record(label, val_accuracy, repeats=1, status="COMPLETED", shifts=None):
    """A trial whose runs share `val_accuracy`, each shifted by `shifts[k]`."""
    shifts = shifts or [0.0] * repeats
    runs = [
        RunRecord(k, history(val_accuracy, shift), seed=k + 1)
        for k, shift in enumerate(shifts)
        if val_accuracy
    ]
    return TrialRecord(
        trial_id=label, label=label, status=status, hyperparameters={"units": 64},
        runs=runs,
    )  # fmt: skip


SETTINGS = StudySettings(variants=("A",), epochs=3, seed=1)
REPEATED = StudySettings(variants=("A", "B"), epochs=3, seed=1, repeats=5)


def test_result_row_takes_best_epoch_one_based_and_final_values():
    row = result_row(record("A", [0.70, 0.85, 0.80]), SETTINGS)
    assert row["best_val_accuracy"] == 0.85 and row["best_epoch"] == 2
    assert row["final_val_accuracy"] == 0.80
    assert row["final_val_loss"] == pytest.approx(0.8)
    assert row["final_accuracy"] == pytest.approx(0.7)
    assert row["final_loss"] == pytest.approx(0.8)
    assert row["epochs"] == 3 and row["units"] == 64
    assert row["protocol"] == TEST_AS_VALIDATION


def test_result_row_of_a_trial_without_epochs_has_no_metrics():
    empty = TrialRecord("1", "B", "RUNNING", {}, [])
    row = result_row(empty, SETTINGS)
    assert row["epochs"] == 0 and "best_val_accuracy" not in row
    assert row["repeats"] == 0 and "objective_mean" not in row


def test_history_rows_are_one_per_repeat_and_epoch():
    rows = history_rows(record("A", [0.7, 0.8], repeats=2), SETTINGS)
    keys = [(r["repeat"], r["epoch"]) for r in rows]
    assert keys == [(0, 1), (0, 2), (1, 1), (1, 2)]
    assert rows[1]["val_accuracy"] == 0.8


def test_run_rows_give_each_finished_run_its_seed_and_metrics():
    trial = record("A", [0.70, 0.85, 0.80], shifts=[0.0, 0.01])
    unfinished = RunRecord(2, history([0.9]), finished=False)
    trial = TrialRecord("A", "A", "RUNNING", {}, [*trial.runs, unfinished])
    rows = run_rows(trial, SETTINGS)
    assert [(r["repeat"], r["seed"]) for r in rows] == [(0, 1), (1, 2)]
    assert rows[1]["best_val_accuracy"] == pytest.approx(0.86)
    assert rows[1]["best_epoch"] == 2 and rows[1]["final_val_accuracy"] == 0.81


def test_format_table_names_the_protocol_and_every_trial():
    rows = [result_row(record(n, [0.7]), SETTINGS) for n in ("A", "B")]
    table = format_table(rows, SETTINGS).splitlines()
    assert "test reviews, every epoch (notebook protocol)" in table[0]
    assert table[1].split()[0] == "label"
    assert [line.split()[0] for line in table[2:]] == ["A", "B"]


def test_validation_curves_skip_trials_without_epochs_and_draw_one_line_each():
    records = [record("A", [0.7, 0.8]), record("B", [0.6]), record("C", [])]
    curves = validation_curves(records, "val_accuracy")
    assert curves.labels == ["A", "B"]
    assert curves.values == [[0.7, 0.8], [0.6]]
    axes = draw_curves(curves, trial_colors(curves.labels)).axes[0]
    assert [line.get_label() for line in axes.get_lines()] == ["A", "B"]
    assert list(axes.get_lines()[0].get_xdata()) == [1, 2]
    assert [t.get_text() for t in axes.get_legend().get_texts()] == ["A", "B"]


def test_overfitting_panels_pair_train_and_validation_and_mark_best_epoch():
    panels = overfitting_panels([record("A", [0.70, 0.85, 0.80])], "accuracy")
    assert panels[0].best_epoch == 2
    assert panels[0].train == pytest.approx([0.5, 0.6, 0.7])
    assert panels[0].validation == [0.70, 0.85, 0.80]
    figure = draw_panels(panels * 4, "accuracy", trial_colors(["A"]))
    visible = [axes for axes in figure.axes if axes.get_visible()]
    assert len(visible) == 4  # a 2 x 3 grid with two panels hidden
    lines = visible[0].get_lines()
    assert [line.get_label() for line in lines][:2] == ["train", "validation"]
    assert lines[0].get_color() == lines[1].get_color()


def test_select_trials_keeps_order_until_top_k_then_ranks_by_val_accuracy():
    records = [record(n, [v]) for n, v in (("A", 0.6), ("B", 0.9), ("C", 0.7))]
    assert [r.label for r in select_trials(records, top=3)] == ["A", "B", "C"]
    assert [r.label for r in select_trials(records, top=2)] == ["B", "C"]


def test_trial_colors_are_distinct_and_stable():
    colors = trial_colors(["A", "B", "C"])
    assert len(set(colors.values())) == 3
    assert colors == trial_colors(["A", "B", "C"])


def test_study_summary_quotes_the_rows():
    rows = [
        result_row(record("A", [0.70, 0.85, 0.80]), SETTINGS),
        result_row(record("B", [0.86, 0.60, 0.50]), SETTINGS),
    ]
    text = "\n".join(study_summary(rows, SETTINGS))
    assert "no verdict is possible" in text and "better" not in text
    assert "A: 2; B: 1" in text
    assert "A: -0.1000; B: 0.2000" in text
    assert "Widest gap (most overfitting): **B**, 0.2000" in text


def test_with_one_repeat_the_report_quotes_the_noise_yardstick():
    trials = [record("Baseline", [0.80, 0.84]), record("64 Units", [0.83, 0.81])]
    rows = [result_row(t, SETTINGS) for t in trials]
    add_comparisons(rows, trials, StudySettings(seed=1, reference="Baseline"))
    assert rows[1]["verdict"] == "no verdict (1 repeat)"
    text = "\n".join(study_summary(rows, SETTINGS))
    assert 'Baseline and "64 Units"' in text and "differ by -0.0100" in text


NOISY = [0.003, -0.002, 0.001, -0.004, 0.002]


def compared(shift_b):
    """A and B over five repeats, B's runs shifted by `shift_b`, vs A."""
    trials = [
        record("A", [0.80, 0.84], shifts=NOISY),
        record("B", [0.80, 0.84], shifts=[n + shift_b for n in reversed(NOISY)]),
    ]
    settings = StudySettings(seed=1, repeats=5, reference="A")
    rows = [result_row(t, settings) for t in trials]
    add_comparisons(rows, trials, settings)
    return rows, settings


def test_a_clearly_better_trial_is_named_the_winner_with_its_interval():
    rows, settings = compared(0.02)
    b = rows[1]
    assert b["verdict"] == "better" and b["reference"] == "A"
    assert b["difference"] == pytest.approx(0.02)
    assert b["difference_ci_low"] > 0 and b["p_beats_reference"] == 1.0
    text = "\n".join(study_summary(rows, settings))
    assert "- **B** is better than A: +0.0200 [" in text


def test_an_equal_trial_is_undecided_and_no_winner_is_named():
    rows, settings = compared(0.0)
    assert rows[1]["verdict"] == "not distinguishable"
    assert rows[1]["difference_ci_low"] < 0 < rows[1]["difference_ci_high"]
    assert "no winner is named" in "\n".join(study_summary(rows, settings))


def test_a_loss_objective_calls_the_lower_loss_better():
    trials = [
        record("A", [0.80, 0.84], shifts=NOISY),
        record("B", [0.80, 0.84], shifts=[n + 0.02 for n in NOISY]),
    ]
    settings = StudySettings(seed=1, repeats=5, reference="A", objective="val_loss")
    rows = [result_row(t, settings) for t in trials]
    add_comparisons(rows, trials, settings)
    # B's val_loss is 0.02 lower in every run: better on a minimized objective.
    assert rows[1]["objective_mean"] == pytest.approx(rows[0]["objective_mean"] - 0.02)
    assert rows[1]["verdict"] == "better"


def test_without_a_reference_the_best_trial_is_the_reference():
    rows, _ = compared(0.02)
    trials = [
        record("A", [0.80, 0.84], shifts=NOISY),
        record("B", [0.80, 0.84], shifts=[n + 0.02 for n in NOISY]),
    ]
    settings = StudySettings(mode="random", seed=1, repeats=5)
    rows = [result_row(t, settings) for t in trials]
    add_comparisons(rows, trials, settings)
    assert rows[0]["reference"] == "B" and rows[0]["verdict"] == "worse"
    assert "verdict" not in rows[1]


def test_curves_of_repeated_trials_carry_a_band_around_the_mean():
    trial = record("A", [0.70, 0.80], shifts=[0.0, 0.02, 0.04])
    curves = validation_curves([trial, record("B", [0.6, 0.7])], "val_accuracy")
    assert curves.values[0] == pytest.approx([0.72, 0.82])
    low, high = curves.bands[0]
    assert low[0] < 0.72 < high[0] and curves.bands[1] is None
    axes = draw_curves(curves, trial_colors(curves.labels)).axes[0]
    assert len(axes.collections) == 1  # one shaded band, A's


def test_comparison_figure_has_a_dot_and_whiskers_per_trial_and_shades_the_reference():
    rows, settings = compared(0.02)
    trials = [
        record("A", [0.80, 0.84], shifts=NOISY),
        record("B", [0.80, 0.84], shifts=[n + 0.02 for n in NOISY]),
    ]
    intervals = comparison_intervals(trials, settings)
    assert intervals.labels == ["A", "B"] and intervals.reference == "A"
    assert intervals.means[1] == pytest.approx(intervals.means[0] + 0.02)
    bounds = zip(intervals.lows, intervals.means, intervals.highs, strict=True)
    assert all(low < mean < high for low, mean, high in bounds)
    axes = draw_intervals(intervals, trial_colors(intervals.labels)).axes[0]
    assert [t.get_text() for t in axes.get_yticklabels()] == ["A", "B"]
    assert len(axes.patches) == 1  # the reference's shaded interval
    assert not math.isnan(intervals.lows[0])
