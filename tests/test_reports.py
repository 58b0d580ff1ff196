import pytest

from tests.conftest import analysed_pair, fabricated_trial
from tuning.analysis import analyze
from tuning.objective import Objective
from tuning.reports import findings, write_report
from tuning.run_dir import RunDir
from tuning.settings import StudySettings

SETTINGS = StudySettings(variants=("A",), epochs=3, seed=1)


def test_the_summary_quotes_the_analysis():
    trials = [
        fabricated_trial("A", [0.70, 0.85, 0.80]),
        fabricated_trial("B", [0.86, 0.60, 0.50]),
    ]
    text = "\n".join(findings(analyze(trials, SETTINGS)))
    assert "no verdict is possible" in text and "better" not in text
    assert "Epoch of best val_accuracy: A: 2; B: 1" in text
    assert "A: -0.1000; B: 0.2000" in text
    assert "Widest gap (most overfitting): **B**, 0.2000" in text


def test_with_one_run_the_report_quotes_the_noise_yardstick():
    trials = [
        fabricated_trial("Baseline", [0.80, 0.84]),
        fabricated_trial("64 Units", [0.83, 0.81]),
    ]
    analysis = analyze(trials, StudySettings(seed=1, reference="Baseline"))
    assert analysis.trials[1].comparison.verdict == "no verdict (1 run)"
    text = "\n".join(findings(analysis))
    assert 'Baseline and "64 Units"' in text and "differ by -0.0100" in text


def test_a_winner_is_named_with_its_interval_and_the_report_says_the_objective(
    tmp_path,
):
    analysis = analysed_pair(0.02, objective=Objective.named("val_loss"))
    text = "\n".join(findings(analysis))
    assert "- **B** is better than A: -0.0200 [" in text
    report = write_report(RunDir(tmp_path), analysis, [])
    assert "Objective: `val_loss` (minimized)" in report
    assert "## Comparisons (val_loss, each run's best)" in report
    assert "| B | 5 |" in report and "| A | 5 |" in report
    assert "README" not in report  # it cites docs that exist


def test_an_equal_trial_names_no_winner():
    analysis = analysed_pair(0.0)
    assert "no winner is named" in "\n".join(findings(analysis))


def test_with_one_run_what_cannot_be_estimated_is_left_blank(tmp_path):
    trials = [fabricated_trial("A", [0.80, 0.84]), fabricated_trial("B", [0.83])]
    analysis = analyze(trials, StudySettings(seed=1, reference="A"))
    report = write_report(RunDir(tmp_path), analysis, [])
    (row,) = [line for line in report.splitlines() if line.startswith("| B | 1 |")]
    cells = [cell.strip() for cell in row.strip("|").split("|")]
    # trial, runs, mean, its interval, difference, its interval, which, P(A>B),
    # verdict
    assert cells[3] == cells[5] == cells[6] == cells[7] == ""
    assert cells[4] == "-0.0100" and cells[8] == "no verdict (1 run)"


def test_what_matters_ranks_with_intervals_and_says_the_direction(
    tmp_path, assessed_search
):
    analysis, importance = assessed_search
    report = write_report(RunDir(tmp_path), analysis, [], importance)
    section = report.split("## What matters")[1].split("## Results")[0]
    assert "over 30 completed trials" in section
    first = importance.shares[0]
    assert f"| 1 | learning_rate | {first.share:.3f} | [{first.low:.3f}, " in section
    assert "**learning_rate** is clearly ahead" in section
    assert "dropout exists only when dropout_on" in section
    assert (
        "- learning_rate: higher values go with better val_accuracy (Spearman rho = +"
        in section
    )


def test_too_few_trials_for_importance_is_one_line_that_says_how_many(tmp_path):
    from tests.conftest import learning_rate_alone, search_of
    from tuning.importance import assess

    analysis = search_of(learning_rate_alone, 12)
    report = write_report(RunDir(tmp_path), analysis, [], assess(analysis))
    section = report.split("## What matters")[1].split("## Results")[0]
    assert section.strip().splitlines() == [
        "Importance needs at least 16 completed trials (2 per hyperparameter, 10 "
        "at least); this search has 12. Run with `--max-trials 16` or more."
    ]


def test_far_out_trials_are_named_with_what_they_have_in_common(tmp_path):
    from tests.conftest import collapsed_search
    from tuning.importance import assess

    analysis = collapsed_search()
    text = write_report(RunDir(tmp_path), analysis, [], assess(analysis, 2))
    assert (
        "Far from the others (beyond 3 interquartile ranges): trial 03 (0.5000), "
        "trial 07 (0.5000)." in text
    )
    assert "They have in common activation = relu, loss = mse" in text


def test_runs_needed_reads_the_same_in_every_table(tmp_path):
    from tuning import verdicts
    from tuning.reports import comparison_table
    from tuning.tables import result_row

    analysis = analysed_pair(0.004, margin=0.0001)
    trial = analysis.trials[1]
    assert trial.comparison.verdict == verdicts.UNDECIDED
    cell = verdicts.runs_needed_cell(trial.comparison)
    assert cell in ("> 1000", str(trial.comparison.repeats_needed))
    assert result_row(trial, analysis)["repeats_needed"] == cell
    assert comparison_table(analysis)[-1].endswith(f"| {cell} |")
    summary = "\n".join(findings(analysis))
    assert "B (5 runs: its interval [" in summary
    assert f"planned at the margin, {cell} runs per trial would decide it)" in summary


def test_repeated_runs_without_a_finished_reference_are_not_called_one_run():
    trials = [
        fabricated_trial("A", [0.80, 0.84], status="RUNNING"),
        fabricated_trial("B", [0.80, 0.84], shifts=[0.0, 0.01]),
    ]
    settings = StudySettings(seed=1, repeats=2, reference="A")
    text = "\n".join(findings(analyze(trials, settings)))
    assert "No comparison yet: A" in text and "One run per trial" not in text


def test_no_trial_is_called_overfitting_when_every_gap_is_negative():
    trials = [
        fabricated_trial("A", [0.80, 0.84]),  # trains to 0.6: validation above
        fabricated_trial("B", [0.82, 0.83]),
    ]
    text = "\n".join(findings(analyze(trials, SETTINGS)))
    assert "A: -0.2400; B: -0.2300" in text
    assert "Widest gap" not in text and "none overfits" in text


@pytest.mark.parametrize("p_value, named", [(0.01, True), (0.33, False)])
def test_a_choice_is_called_best_or_worst_only_below_the_level(p_value, named):
    from hypermodels.space import Dimension
    from tuning.importance import Slice
    from tuning.importance_outputs import _direction

    choice = Slice(
        Dimension("activation", choices=("relu", "tanh")), ["relu", "tanh", "relu"],
        [0.88, 0.86, 0.87], [], [], None, p_value,
    )  # fmt: skip
    analysis = analyze([fabricated_trial("A", [0.8])], SETTINGS)
    text = _direction(choice, analysis)
    assert ("relu scores best" in text) == named
    assert ("no clear difference" in text) != named and f"p = {p_value}" in text
