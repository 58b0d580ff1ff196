"""The analysis stage: what a run's results say, computed once for every output.

`analyze` reads the trials once and computes each trial's mean curve, its
best epoch of the objective, its runs' metrics with their intervals, the
reference and every comparison with it (`tuning.verdicts`). The tables,
the terminal summary, `report.md`, the figures and the best model only
render or use an `Analysis`; none of them computes a statistic of its own.
"""

from __future__ import annotations

import dataclasses

from tuning import verdicts
from tuning.objective import HISTORY_METRICS, Objective
from tuning.records import (
    COMPLETED,
    RunRecord,
    TrialRecord,
    epoch_numbers,
    load_trials,
)
from tuning.rounds import Schedule
from tuning.run_dir import RunDir
from tuning.settings import StudySettings

# Per-run metrics summarized over a trial's runs ("objective": the run's
# best value of the study's objective, what the oracle averages).
RUN_METRICS = ("best_val_accuracy", "final_val_accuracy", "objective")


@dataclasses.dataclass(frozen=True)
class RunResult:
    """One finished run of a trial.

    Attributes:
        repeat: its index within the trial.
        seed: the seed it trained from.
        epochs: epochs it trained.
        metrics: `RUN_METRICS` values, plus `final_val_loss`.
        best_epoch: the 1-based epoch of its best objective (first on ties).
        test: its test-set metrics, if evaluated.
    """

    repeat: int
    seed: int | None
    epochs: int
    metrics: dict[str, float]
    best_epoch: int
    test: dict[str, float]
    trial_id: str | None = None


@dataclasses.dataclass(frozen=True)
class TrialResult:
    """One trial, analysed.

    Attributes:
        record: the trial as read from disk.
        history: per-epoch metrics, the mean over its runs.
        bands: per history metric, the per-epoch 95% interval of that mean
            as `(lows, highs)`; empty with fewer than two runs.
        best_epoch: the 1-based epoch of the mean curve's best objective,
            or `None` before its first epoch.
        runs: its finished runs.
        summaries: each of `RUN_METRICS` over `runs`; empty without any.
        comparison: its comparison with the reference, or `None` (the
            reference itself, or a trial not compared).
        look: the look (`tuning.rounds`) its comparison was made at: its
            runs then, against the reference's runs then.
    """

    record: TrialRecord
    history: dict[str, list[float]]
    bands: dict[str, tuple[list[float], list[float]]]
    best_epoch: int | None
    runs: list[RunResult]
    summaries: dict[str, verdicts.Summary]
    comparison: verdicts.Comparison | None = None
    look: int | None = None

    @property
    def decided_in(self) -> int | None:
        """The round whose runs decided its comparison, if decided."""
        decided = self.comparison and self.comparison.verdict in verdicts.DECIDED
        return self.look if decided else None

    @property
    def label(self) -> str:
        return self.record.label

    @property
    def objective_values(self) -> list[float]:
        """Each finished run's best value of the objective."""
        return [run.metrics["objective"] for run in self.runs]

    @property
    def epochs(self) -> list[int]:
        """The mean curve's 1-based epoch numbers."""
        return epoch_numbers(self.history) if self.history else []


@dataclasses.dataclass(frozen=True)
class Analysis:
    """A run's results, analysed.

    Attributes:
        settings: the study's settings (its objective among them).
        trials: every started trial, in start order.
        reference: the label every other completed trial is compared
            with, or `None` when no trial completed a run.
        schedule: the runs at each look and the level of each comparison,
            or `None` when nothing was compared.
    """

    settings: StudySettings
    trials: list[TrialResult]
    reference: str | None
    schedule: Schedule | None = None

    @property
    def objective(self) -> Objective:
        return self.settings.objective

    @property
    def trained(self) -> list[TrialResult]:
        """The trials that finished at least one epoch."""
        return [t for t in self.trials if t.best_epoch is not None]

    @property
    def compared(self) -> list[TrialResult]:
        return [t for t in self.trials if t.comparison is not None]

    @property
    def best_trial(self) -> TrialResult | None:
        """The completed trial with the best mean objective over its runs
        (Keras Tuner's score), or `None`."""
        return _best_completed(self.trials, self.objective)

    def open_at(self, look: int) -> set[str]:
        """The trials the round after `look` trains (`still_open`)."""
        if self.schedule is None:
            return set()
        judged = {t.label: (t.comparison, t.look) for t in self.compared}
        return still_open(judged, look, self.schedule)

    def top(self, count: int) -> list[TrialResult]:
        """The trained trials; past `count`, the `count` best by `score`,
        best first."""
        trained = self.trained
        if len(trained) <= count:
            return trained
        ranked = sorted(
            trained, key=self.score, reverse=self.objective.higher_is_better
        )
        return ranked[:count]

    def score(self, trial: TrialResult) -> float:
        """A trial's standing by the objective: the mean over its finished
        runs of each run's best (Keras Tuner's score, what `best_trial`
        ranks by); before a run has finished, the best of its mean curve."""
        return _score(trial, self.objective)


def analyze_run(run_dir: RunDir, settings: StudySettings) -> Analysis:
    """Analyses the trials recorded in `run_dir` (`load_trials` checks them)."""
    return analyze(load_trials(run_dir, settings), settings)


def analyze(records: list[TrialRecord], settings: StudySettings) -> Analysis:
    """Analyses `records` under `settings.objective`: a variant's trials of
    every round of `--repeats auto` as one."""
    trials = [_trial_result(r, settings.objective) for r in _by_label(records)]
    reference = _reference(trials, settings)
    # In rounds, a comparison is made on the runs of a look, whatever the
    # status of a later round's trial (running, or failed).
    completed = [
        t
        for t in trials
        if t.runs and (settings.max_repeats or t.record.status == COMPLETED)
    ]
    if not any(t.label == reference for t in completed):
        return Analysis(settings, trials, reference)
    others = [t.label for t in completed if t.label != reference]
    # A grid's comparisons are planned with its variants; a wider search's
    # are those of the trials it completed.
    schedule = settings.schedule(None if settings.reference else len(others))
    values = {t.label: t.objective_values for t in completed}
    judged = judge(values, reference, settings, schedule)
    trials = [
        dataclasses.replace(t, comparison=judged[t.label][0], look=judged[t.label][1])
        if t.label in judged
        else t
        for t in trials
    ]
    return Analysis(settings, trials, reference, schedule)


def judge(
    values: dict[str, list[float]],
    reference: str,
    settings: StudySettings,
    schedule: Schedule,
) -> dict[str, tuple[verdicts.Comparison, int]]:
    """Every trial's comparison with `reference`, at the last look it
    reached, with the look: the study's decisions, from each trial's
    objective values in run order (the reference's among them).

    At a look, a trial's comparison uses its runs then and the reference's
    then, and its interval shares the spread of every trial's runs then
    (a trial that stopped at an earlier look, with its runs of that look):
    so a verdict, once reached, does not change as later rounds train.
    """
    by_look: dict[int, list[str]] = {}
    for label, runs in values.items():
        look = schedule.last_look(len(runs)) if settings.max_repeats else 1
        if label != reference and look is not None:
            by_look.setdefault(look, []).append(label)
    judged = {}
    for look, labels in sorted(by_look.items()):
        groups = {
            label: _runs_at(runs, look, label == reference, schedule)
            if settings.max_repeats
            else runs
            for label, runs in values.items()
        }
        if (
            settings.max_repeats
            and len(groups[reference]) < schedule.reference_runs[look - 1]
        ):
            continue  # the reference has not reached this look yet
        pairs = {label: (label, reference) for label in labels}
        found = verdicts.compare_all(
            groups, pairs, settings.objective, settings.margin, schedule.family(look)
        )
        judged.update({label: (found[label], look) for label in labels})
    return judged


def still_open(
    judged: dict[str, tuple[verdicts.Comparison, int]], look: int, schedule: Schedule
) -> set[str]:
    """The trials whose comparison was still undecided at `look`, the
    schedule's last excepted: those the next round trains. A trial
    compared at a later look was; one compared earlier was decided."""
    if look >= schedule.looks:
        return set()
    return {
        label
        for label, (comparison, compared_at) in judged.items()
        if compared_at > look
        or (compared_at == look and comparison.verdict not in verdicts.DECIDED)
    }


def _runs_at(
    runs: list[float], look: int, reference: bool, schedule: Schedule
) -> list[float]:
    """A trial's runs at `look`: the look's number, or all it has if it
    stopped before (a trial decided earlier, or one the round trains)."""
    sizes = schedule.reference_runs if reference else schedule.trial_runs
    reached = [n for n in sizes[:look] if n <= len(runs)]
    return runs[: reached[-1]] if reached else []


def _by_label(records: list[TrialRecord]) -> list[TrialRecord]:
    """One record per label: the trials of a variant's rounds merged, in
    the order their first trial started."""
    groups: dict[str, list[TrialRecord]] = {}
    for record in records:
        groups.setdefault(record.label, []).append(record)
    return [_merged(group) for group in groups.values()]


def _merged(group: list[TrialRecord]) -> TrialRecord:
    if len(group) == 1:
        return group[0]
    statuses = [r.status for r in group]
    unfinished = [s for s in statuses if s != COMPLETED]
    return dataclasses.replace(
        group[0],
        status=unfinished[0] if unfinished else COMPLETED,
        runs=sorted((run for r in group for run in r.runs), key=lambda r: r.repeat),
        message=next((r.message for r in group if r.message), None),
    )


def run_result(run: RunRecord, objective: Objective) -> RunResult:
    """One run's metrics: best and final validation accuracy, final
    validation loss, and its best objective with that epoch."""
    history = run.history
    best = objective.best_index(history[objective.name])
    return RunResult(
        repeat=run.repeat,
        seed=run.seed,
        epochs=run.epochs,
        metrics={
            "best_val_accuracy": max(history["val_accuracy"]),
            "final_val_accuracy": history["val_accuracy"][-1],
            "objective": history[objective.name][best],
            "final_val_loss": history["val_loss"][-1],
        },
        best_epoch=epoch_numbers(history)[best],
        test=run.test,
        trial_id=run.trial_id,
    )


def _trial_result(record: TrialRecord, objective: Objective) -> TrialResult:
    history = record.history
    trained = bool(history.get(objective.name))
    runs = [run_result(run, objective) for run in record.finished_runs]
    summaries = {
        metric: verdicts.summarize(
            [run.metrics[metric] for run in runs], _bounds(metric, objective)
        )
        for metric in RUN_METRICS
        if runs
    }
    best_epoch = None
    if trained:
        best = objective.best_index(history[objective.name])
        best_epoch = epoch_numbers(history)[best]
    return TrialResult(
        record=record,
        history=history,
        bands=_bands(record) if trained else {},
        best_epoch=best_epoch,
        runs=runs,
        summaries=summaries,
    )


def _bands(record: TrialRecord) -> dict[str, tuple[list[float], list[float]]]:
    """Per metric and epoch, the 95% interval of the mean over the runs."""
    if len(record.runs) < 2:
        return {}
    epochs = len(record.history["epoch"])
    bands = {}
    for metric in HISTORY_METRICS:
        summaries = [
            verdicts.summarize(
                [run.history[metric][epoch] for run in record.runs],
                Objective.named(metric).bounds,
            )
            for epoch in range(epochs)
        ]
        bands[metric] = ([s.ci_low for s in summaries], [s.ci_high for s in summaries])
    return bands


def _bounds(metric: str, objective: Objective) -> tuple[float, float]:
    """The values a run metric can take: the objective's, or an accuracy's."""
    return (objective if metric == "objective" else Objective.named(metric)).bounds


def _reference(trials: list[TrialResult], settings: StudySettings) -> str | None:
    """`settings.reference`, else the completed trial with the best mean
    objective; `None` if there is none."""
    if settings.reference:
        return settings.reference
    best = _best_completed(trials, settings.objective)
    return best.label if best else None


def _best_completed(trials: list[TrialResult], objective: Objective):
    """The completed trial with the best score (`Analysis.score`), or `None`."""
    scored = [t for t in trials if t.record.status == COMPLETED and t.summaries]
    if not scored:
        return None
    return scored[objective.best_index([_score(t, objective) for t in scored])]


def _score(trial: TrialResult, objective: Objective) -> float:
    if trial.summaries:
        return trial.summaries["objective"].mean
    return trial.history[objective.name][trial.best_epoch - 1]
