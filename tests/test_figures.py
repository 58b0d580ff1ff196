"""What the figures draw is computed from the analysis, apart from drawing it."""

import math

import pytest

from tests.conftest import analysed_pair, fabricated_trial
from tuning.analysis import analyze
from tuning.figures import (
    comparison_intervals,
    draw_curves,
    draw_intervals,
    draw_panels,
    overfitting_panels,
    trial_colors,
    validation_curves,
)
from tuning.objective import Objective
from tuning.settings import StudySettings

SETTINGS = StudySettings(variants=("A",), epochs=3, seed=1)


def test_validation_curves_draw_one_line_per_trained_trial():
    trials = [fabricated_trial(n, v) for n, v in (("A", [0.7, 0.8]), ("B", [0.6]))]
    trials.append(fabricated_trial("C", []))
    analysis = analyze(trials, SETTINGS)
    curves = validation_curves(analysis.top(10), "val_accuracy")
    assert curves.labels == ["A", "B"]
    assert curves.values == [[0.7, 0.8], [0.6]]
    axes = draw_curves(curves, trial_colors(curves.labels)).axes[0]
    assert [line.get_label() for line in axes.get_lines()] == ["A", "B"]
    assert list(axes.get_lines()[0].get_xdata()) == [1, 2]
    assert [t.get_text() for t in axes.get_legend().get_texts()] == ["A", "B"]


def test_curves_of_repeated_trials_carry_their_band():
    trials = [
        fabricated_trial("A", [0.70, 0.80], shifts=[0.0, 0.02, 0.04]),
        fabricated_trial("B", [0.6, 0.7]),
    ]
    curves = validation_curves(analyze(trials, SETTINGS).trials, "val_accuracy")
    assert curves.bands[1] is None and curves.bands[0][0][0] < 0.72
    axes = draw_curves(curves, trial_colors(curves.labels)).axes[0]
    assert len(axes.collections) == 1  # one shaded band, A's


@pytest.mark.parametrize("objective, best", [("val_accuracy", 2), ("val_loss", 3)])
def test_overfitting_panels_star_the_objectives_best_epoch(objective, best):
    settings = StudySettings(objective=Objective.named(objective))
    trials = analyze([fabricated_trial("A", [0.70, 0.85, 0.80])], settings).trials
    panels = overfitting_panels(trials, "accuracy", objective)
    assert panels[0].best_epoch == best
    assert panels[0].train == pytest.approx([0.5, 0.6, 0.7])
    assert panels[0].validation == [0.70, 0.85, 0.80]
    figure = draw_panels(panels * 4, "accuracy", trial_colors(["A"]))
    visible = [axes for axes in figure.axes if axes.get_visible()]
    assert len(visible) == 4  # a 2 x 3 grid with two panels hidden
    lines = visible[0].get_lines()
    assert [line.get_label() for line in lines][:2] == ["train", "validation"]
    assert lines[0].get_color() == lines[1].get_color()
    assert lines[-1].get_label() == f"best {objective} ({best})"
    assert list(lines[-1].get_xdata()) == [best]


def test_trial_colors_are_distinct_and_stable():
    colors = trial_colors(["A", "B", "C"])
    assert len(set(colors.values())) == 3
    assert colors == trial_colors(["A", "B", "C"])


def test_the_comparison_figure_shows_the_objective_and_shades_the_reference():
    analysis = analysed_pair(0.02, objective=Objective.named("val_loss"))
    intervals = comparison_intervals(analysis, analysis.trials)
    assert intervals.labels == ["A", "B"] and intervals.reference == "A"
    assert intervals.metric == "val_loss"
    assert intervals.means[1] == pytest.approx(intervals.means[0] - 0.02)
    bounds = zip(intervals.lows, intervals.means, intervals.highs, strict=True)
    assert all(low < mean < high for low, mean, high in bounds)
    axes = draw_intervals(intervals, trial_colors(intervals.labels)).axes[0]
    assert [t.get_text() for t in axes.get_yticklabels()] == ["A", "B"]
    # The reference's interval, and its mean plus or minus the margin.
    assert len(axes.patches) == 2
    assert [t.get_text() for t in axes.get_legend().get_texts()] == [
        "A 95% CI",
        "A ± margin 0.01",
    ]
    assert axes.get_title() == "Mean and 95% interval over runs"
    assert "validation loss" in axes.get_xlabel()


def test_with_one_run_the_comparison_figure_claims_no_interval():
    trials = [fabricated_trial("A", [0.8]), fabricated_trial("B", [0.7])]
    analysis = analyze(trials, StudySettings(seed=1, reference="A"))
    intervals = comparison_intervals(analysis, analysis.trials)
    assert all(math.isnan(low) for low in intervals.lows)
    axes = draw_intervals(intervals, trial_colors(intervals.labels)).axes[0]
    assert "no interval" in axes.get_title() and len(axes.patches) == 0


def test_a_wider_search_draws_importance_and_slices(tmp_path, assessed_search):
    from tuning.importance_outputs import write_importance_figures
    from tuning.run_dir import RunDir

    analysis, importance = assessed_search
    paths = write_importance_figures(RunDir(tmp_path), analysis, importance)
    names = {p.name for p in paths}
    assert names == {"importance.png", "slices.png"}
    assert all(p.stat().st_size > 10_000 for p in paths)


def test_importance_bars_carry_their_intervals_and_name_conditions(assessed_search):
    from tuning.importance_outputs import draw_importance

    _, importance = assessed_search
    axes = draw_importance(importance, "val_accuracy").axes[0]
    labels = [t.get_text() for t in axes.get_yticklabels()]
    assert labels[0] == "learning_rate"
    rate = next(s for s in importance.shares if s.condition)
    assert f"{rate.name}\n(the {rate.trials} trials with {rate.condition})" in labels
    widths = [bar.get_width() for bar in axes.patches]
    assert widths == pytest.approx([s.share for s in importance.shares])


def test_a_choice_s_trials_spread_around_its_place_and_numbers_stay_put():
    from hypermodels.space import Dimension
    from tuning.importance import Slice
    from tuning.importance_outputs import slice_points

    nan = math.nan
    choice = Slice(Dimension("activation", choices=("relu", "tanh", "gelu")),
                   ["tanh", "relu", "tanh", "tanh"], [0.8, 0.7, 0.9, 0.85],
                   [nan] * 4, [nan] * 4, None, nan)  # fmt: skip
    points = slice_points(choice)
    assert points.ticks == {"relu": 0, "tanh": 1, "gelu": 2}
    assert points.x == pytest.approx([0.85, 0, 1.0, 1.15])  # tanh's three spread
    assert points.means == choice.means
    units = Dimension("units", low=16, high=256, log=True, integer=True)
    number = Slice(units, [32, 128], [0.8, 0.9], [0.79, 0.88], [0.81, 0.92], 1.0, 0.3)
    assert slice_points(number) == ([32, 128], [0.8, 0.9], [0.79, 0.88],
                                    [0.81, 0.92], {})  # fmt: skip


def test_slices_put_log_scaled_hyperparameters_on_log_axes(assessed_search):
    from tuning.importance_outputs import draw_slices

    _, importance = assessed_search
    figure = draw_slices(importance, "val_accuracy")
    scales = {a.get_xlabel(): a.get_xscale() for a in figure.axes if a.get_visible()}
    assert scales["learning_rate (log scale)"] == "log"
    assert scales["units (log scale)"] == "log"
    assert scales["hidden_layers"] == "linear"
    assert len(scales) == len(importance.slices)


def test_a_search_too_small_for_importance_leaves_no_importance_figure(tmp_path):
    from tests.conftest import learning_rate_alone, search_of
    from tuning.importance import assess
    from tuning.importance_outputs import write_importance_figures
    from tuning.run_dir import RunDir

    stale = tmp_path / "plots" / "importance.png"
    stale.parent.mkdir()
    stale.write_bytes(b"from an earlier analysis")
    analysis = search_of(learning_rate_alone, 12)
    paths = write_importance_figures(RunDir(tmp_path), analysis, assess(analysis))
    assert {p.name for p in paths} == {"slices.png"} and not stale.exists()
