import pytest

from tuning.plot import (
    draw_curves,
    draw_panels,
    overfitting_panels,
    select_trials,
    trial_colors,
    validation_curves,
)
from tuning.reports import format_table, history_rows, result_row, study_summary
from tuning.run_dir import TEST_AS_VALIDATION, StudySettings
from tuning.trials import TrialRecord


def record(label, val_accuracy, executions=1, status="COMPLETED"):
    epochs = len(val_accuracy)
    history = {
        "epoch": list(range(epochs)),
        "accuracy": [0.5 + 0.1 * e for e in range(epochs)],
        "loss": [1.0 - 0.1 * e for e in range(epochs)],
        "val_accuracy": list(val_accuracy),
        "val_loss": [0.9 - 0.05 * e for e in range(epochs)],
    }
    return TrialRecord(
        trial_id="0",
        label=label,
        status=status,
        hyperparameters={"units": 64},
        histories=[history] * executions,
        test_metrics=[],
    )


SETTINGS = StudySettings(
    mode="grid",
    variants=("A",),
    epochs=3,
    batch_size=32,
    protocol=TEST_AS_VALIDATION,
    validation_split=None,
    limit=None,
    data="x",
    backend="jax",
)


def test_result_row_takes_best_epoch_one_based_and_final_values():
    row = result_row(record("A", [0.70, 0.85, 0.80]), TEST_AS_VALIDATION)
    assert row["best_val_accuracy"] == 0.85 and row["best_epoch"] == 2
    assert row["final_val_accuracy"] == 0.80
    assert row["final_val_loss"] == pytest.approx(0.8)
    assert row["final_accuracy"] == pytest.approx(0.7)
    assert row["final_loss"] == pytest.approx(0.8)
    assert row["epochs"] == 3 and row["units"] == 64
    assert row["protocol"] == TEST_AS_VALIDATION


def test_result_row_of_a_trial_without_epochs_has_no_metrics():
    empty = TrialRecord("1", "B", "RUNNING", {}, [], [])
    row = result_row(empty, TEST_AS_VALIDATION)
    assert row["epochs"] == 0 and "best_val_accuracy" not in row


def test_history_rows_are_one_per_execution_and_epoch():
    rows = history_rows(record("A", [0.7, 0.8], executions=2), TEST_AS_VALIDATION)
    keys = [(r["execution"], r["epoch"]) for r in rows]
    assert keys == [(0, 1), (0, 2), (1, 1), (1, 2)]
    assert rows[1]["val_accuracy"] == 0.8


def test_format_table_names_the_protocol_and_every_trial():
    rows = [result_row(record(n, [0.7]), TEST_AS_VALIDATION) for n in ("A", "B")]
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
        result_row(record("A", [0.70, 0.85, 0.80]), TEST_AS_VALIDATION),
        result_row(record("B", [0.86, 0.60, 0.50]), TEST_AS_VALIDATION),
    ]
    text = "\n".join(study_summary(rows))
    assert "**B**, 0.8600 at epoch 1" in text
    assert "A: 2; B: 1" in text
    assert "A: -0.1000; B: 0.2000" in text
    assert "Widest gap (most overfitting): **B**, 0.2000" in text
