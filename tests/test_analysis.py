"""The analysis stage on fabricated trials, and on a real repeats study."""

import pytest

from tests.conftest import analysed_pair, fabricated_trial, read_csv
from tuning.analysis import analyze
from tuning.objective import Objective
from tuning.records import TrialRecord
from tuning.settings import StudySettings

SETTINGS = StudySettings(variants=("A",), epochs=3, seed=1)


def test_the_best_epoch_is_the_objectives_one_based():
    trial = fabricated_trial("A", [0.70, 0.85, 0.80])
    (by_accuracy,) = analyze([trial], SETTINGS).trials
    assert by_accuracy.best_epoch == 2
    loss = StudySettings(objective=Objective.named("val_loss"))
    (by_loss,) = analyze([trial], loss).trials  # val_loss falls every epoch
    assert by_loss.best_epoch == 3
    assert by_loss.runs[0].metrics["objective"] == pytest.approx(0.8)
    assert by_loss.runs[0].best_epoch == 3


def test_a_trial_without_epochs_has_no_best_epoch_and_no_summaries():
    (empty,) = analyze([TrialRecord("1", "B", "RUNNING", {}, [])], SETTINGS).trials
    assert empty.best_epoch is None and empty.summaries == {} and empty.runs == []


def test_a_clearly_better_trial_is_better_with_its_interval():
    analysis = analysed_pair(0.02)
    result = analysis.trials[1].comparison
    assert result.verdict == "better" and analysis.reference == "A"
    assert result.difference == pytest.approx(0.02)
    assert result.ci_low > 0 and result.p_beats == 1.0
    assert analysis.trials[0].comparison is None  # the reference


def test_an_equal_trial_is_equivalent_within_a_wide_enough_margin():
    result = analysed_pair(0.0, margin=0.02).trials[1].comparison
    assert result.verdict == "equivalent"
    assert -0.02 < result.ci_low < 0 < result.ci_high < 0.02
    narrow = analysed_pair(0.0, margin=0.001).trials[1].comparison
    assert narrow.verdict == "undecided" and narrow.repeats_needed > 5


def test_a_loss_objective_calls_the_lower_loss_better():
    # B's val_loss is 0.02 lower in every run (fabricated_history).
    analysis = analysed_pair(0.02, objective=Objective.named("val_loss"))
    a, b = (t.summaries["objective"].mean for t in analysis.trials)
    assert b == pytest.approx(a - 0.02)
    assert analysis.trials[1].comparison.verdict == "better"


def test_without_a_reference_the_best_trial_is_the_reference():
    analysis = analysed_pair(0.02, mode="random", reference=None)
    assert analysis.reference == "B" and analysis.best_trial.label == "B"
    assert analysis.trials[0].comparison.verdict == "worse"
    assert analysis.trials[1].comparison is None


def test_top_keeps_order_until_the_count_then_ranks_by_the_objective():
    trials = [fabricated_trial(n, [v]) for n, v in (("A", 0.6), ("B", 0.9), ("C", 0.7))]
    analysis = analyze(trials, SETTINGS)
    assert [t.label for t in analysis.top(3)] == ["A", "B", "C"]
    assert [t.label for t in analysis.top(2)] == ["B", "C"]
    by_loss = analyze(trials, StudySettings(objective=Objective.named("val_loss")))
    # fabricated val_loss is 0.9 - shift: the highest accuracy has the lowest.
    assert [t.label for t in by_loss.top(1)] == ["A"]


def test_repeated_trials_carry_a_band_around_their_mean_curve():
    trial = fabricated_trial("A", [0.70, 0.80], shifts=[0.0, 0.02, 0.04])
    repeated, single = analyze([trial, fabricated_trial("B", [0.6])], SETTINGS).trials
    assert repeated.history["val_accuracy"] == pytest.approx([0.72, 0.82])
    low, high = repeated.bands["val_accuracy"]
    assert low[0] < 0.72 < high[0] and single.bands == {}


@pytest.mark.slow
def test_results_carry_mean_interval_and_a_small_difference_is_not_a_winner(
    noise_pair,
):
    results = {row["label"]: row for row in read_csv(noise_pair / "results.csv")}
    runs = read_csv(noise_pair / "runs.csv")
    for label, row in results.items():
        bests = [float(r["best_val_accuracy"]) for r in runs if r["label"] == label]
        assert row["repeats"] == "3"
        assert float(row["best_val_accuracy_mean"]) == pytest.approx(sum(bests) / 3)
        low, high = float(row["objective_ci_low"]), float(row["objective_ci_high"])
        assert low < float(row["objective_mean"]) < high
    pair = results["32 Units"]
    assert pair["reference"] == "Baseline"
    assert pair["verdict"] in ("undecided", "equivalent")
    assert pair["margin"] == "0.005"
    low, high = float(pair["difference_ci_low"]), float(pair["difference_ci_high"])
    assert low < float(pair["difference"]) < high
    report = (noise_pair / "report.md").read_text()
    assert "Compared with **Baseline**" in report
    assert "runs paired by their seed" in report
    assert (noise_pair / "plots" / "comparison.png").read_bytes()[:4] == b"\x89PNG"


def _verdict(low: float, high: float, margin: float) -> str:
    if -margin < low and high < margin:
        return "equivalent"
    return "better" if low > 0 else "worse" if high < 0 else "undecided"


@pytest.mark.slow
def test_the_verdict_is_recomputed_from_runs_csv_with_scipy(noise_pair):
    """The method the report names, from SciPy alone. Run k of both trials
    trained from one seed; with two trials, the spread left by the trials'
    and the seeds' effects is half the variance of the runs' differences,
    so Dunnett's interval over one comparison, its guard and the F test's
    fallback are all the paired t interval (`scipy.stats.ttest_rel`)."""
    import numpy as np
    from scipy import stats

    (row,) = [r for r in read_csv(noise_pair / "results.csv") if r["reference"]]
    runs = read_csv(noise_pair / "runs.csv")
    trial, reference = (
        [r for r in runs if r["label"] == label]
        for label in (row["label"], row["reference"])
    )
    assert [r["seed"] for r in trial] == [r["seed"] for r in reference]
    trial, reference = (
        np.array([float(r["objective"]) for r in rows]) for rows in (trial, reference)
    )
    interval = stats.ttest_rel(trial, reference).confidence_interval(0.95)
    assert row["interval"] == "pooled"
    assert float(row["difference_ci_low"]) == pytest.approx(interval.low, rel=1e-3)
    assert float(row["difference_ci_high"]) == pytest.approx(interval.high, rel=1e-3)
    assert row["verdict"] == _verdict(interval.low, interval.high, float(row["margin"]))
