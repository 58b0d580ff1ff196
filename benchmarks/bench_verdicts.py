"""Benchmark: the verdicts' error rates and costs, by simulation.

Simulates whole studies without training: each run's best objective is
drawn from normal noise of the size measured on the real grid (or, with
`--runs-csv`, resampled from a real study's runs), and the study's own
decision code (`tuning.verdicts.compare` on `tuning.rounds.Schedule`, as
`tuning.analysis` runs it) decides every comparison, look by look, as
`--repeats auto` does, or once, as a uniform `--repeats K` does.

For each scenario it prints, each with its 95% interval (Clopper-Pearson):
the family-wise rate of a false better or worse, of a false equivalent,
the power (the share of comparisons decided rightly), and the runs used,
against the smallest uniform K whose power is as high.

    python benchmarks/bench_verdicts.py                  # 2,000 studies a scenario
    python benchmarks/bench_verdicts.py --studies 500 --runs-csv logs/grid/runs.csv
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tuning import verdicts  # noqa: E402
from tuning.objective import Objective  # noqa: E402
from tuning.rounds import Schedule  # noqa: E402
from tuning.settings import DEFAULT_MARGINS  # noqa: E402

OBJECTIVE = Objective.named("val_accuracy")
MARGIN = DEFAULT_MARGINS["val_accuracy"]
# A run's best val_accuracy over seeds on the full data (docs/statistics.md).
SEED_NOISE = 0.0017
TRIALS = 9  # the grid: a reference and eight comparisons
UNIFORM = (3, 5, 8, 12, 18, 27)


@dataclasses.dataclass(frozen=True)
class Outcome:
    """One simulated study: each comparison's verdict, and the runs it used."""

    verdicts: list[str]
    runs: int


def scenarios(margin: float) -> dict[str, list[float]]:
    """The true differences from the reference of the eight comparisons."""
    return {
        "all nine equal": [0.0] * 8,
        "one better by 2D": [2 * margin] + [0.0] * 7,
        "one worse by D/2": [-margin / 2] + [0.0] * 7,
        "mixed": [2 * margin, -2 * margin, margin / 2, -margin / 2, 0, 0, 0, 0],
    }


def right(difference: float, verdict: str, margin: float) -> bool:
    """Whether a verdict is the right one for a true difference: better or
    worse past the margin's half, equivalent at no difference."""
    if difference >= margin:
        return verdict == verdicts.BETTER
    if difference <= -margin:
        return verdict == verdicts.WORSE
    if difference == 0:
        return verdict == verdicts.EQUIVALENT
    return verdict != verdicts.UNDECIDED  # inside the margin: either is fair


def false_better_or_worse(difference: float, verdict: str) -> bool:
    return (verdict == verdicts.BETTER and difference <= 0) or (
        verdict == verdicts.WORSE and difference >= 0
    )


def false_equivalent(difference: float, verdict: str, margin: float) -> bool:
    return verdict == verdicts.EQUIVALENT and abs(difference) >= margin


def simulate(
    differences: list[float],
    draw: Callable[[int, int], np.ndarray],
    schedule: Schedule,
    margin: float,
) -> Outcome:
    """One study: the reference is trial 0, trial i + 1 differs by
    `differences[i]`; `draw(trial, n)` gives n more runs of a trial.
    Comparisons still undecided at a look get the next look's runs."""
    runs = {i: np.empty(0) for i in range(len(differences) + 1)}

    def grow(trial: int, n: int) -> None:
        missing = n - len(runs[trial])
        if missing > 0:
            runs[trial] = np.concatenate([runs[trial], draw(trial, missing)])

    decided = [verdicts.UNDECIDED] * len(differences)
    open_ = set(range(len(differences)))
    for look in range(schedule.looks):
        n, r = schedule.trial_runs[look], schedule.reference_runs[look]
        grow(0, r)
        for i in sorted(open_):
            grow(i + 1, n)
            # What `verdicts.compare` decides with (its other figures are
            # for the report).
            low, high = verdicts.difference_interval(
                runs[i + 1][:n], runs[0][:r], schedule.alpha
            )
            decided[i] = verdicts.decide(low, high, margin, OBJECTIVE)
        open_ = {i for i in open_ if decided[i] not in verdicts.DECIDED}
        if not open_:
            break
    return Outcome(decided, sum(len(values) for values in runs.values()))


def normal_draw(differences, noise, rng):
    means = [0.88, *(0.88 + d for d in differences)]
    return lambda trial, n: rng.normal(means[trial], noise, n)


def resampled_draw(differences, pool, rng):
    """Runs resampled from a real study's, shifted by each true difference."""
    shifts = [0.0, *differences]
    return lambda trial, n: rng.choice(pool, n) + shifts[trial]


def run_scenario(differences, draw_for, schedule, margin, studies, rng):
    outcomes = [
        simulate(differences, draw_for(differences, rng), schedule, margin)
        for _ in range(studies)
    ]
    rates = {
        "false better/worse": sum(
            any(
                false_better_or_worse(d, v)
                for d, v in zip(differences, o.verdicts, strict=True)
            )
            for o in outcomes
        ),
        "false equivalent": sum(
            any(
                false_equivalent(d, v, margin)
                for d, v in zip(differences, o.verdicts, strict=True)
            )
            for o in outcomes
        ),
    }
    right_count = sum(
        right(d, v, margin)
        for o in outcomes
        for d, v in zip(differences, o.verdicts, strict=True)
    )
    runs = float(np.mean([o.runs for o in outcomes]))
    return rates, right_count, len(differences) * studies, runs


def interval(count: int, total: int) -> str:
    from scipy import stats

    low, high = stats.binomtest(count, total).proportion_ci(0.95)
    return f"{count / total:6.3f} [{low:.3f}, {high:.3f}]"


def read_pool(path: Path) -> np.ndarray:
    """The runs' objective of a real study's most-run trial (its reference)."""
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    labels = {row["label"] for row in rows}
    label = max(labels, key=lambda name: sum(row["label"] == name for row in rows))
    values = np.array([float(r["objective"]) for r in rows if r["label"] == label])
    return values - values.mean()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--studies", type=int, default=2000)
    parser.add_argument("--max-repeats", type=int, default=12)
    parser.add_argument("--noise", type=float, default=SEED_NOISE)
    parser.add_argument("--margin", type=float, default=MARGIN)
    parser.add_argument("--runs-csv", type=Path, help="resample a real study's runs")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    rng = np.random.default_rng(args.seed)
    if args.runs_csv:
        pool = read_pool(args.runs_csv)
        source = f"runs resampled from {args.runs_csv} ({len(pool)} runs)"
        draw_for = lambda d, rng: resampled_draw(d, pool, rng)  # noqa: E731
    else:
        source = f"normal noise, sd {args.noise}"
        draw_for = lambda d, rng: normal_draw(d, args.noise, rng)  # noqa: E731
    print(
        f"{args.studies} studies a scenario, {TRIALS} trials, margin D = "
        f"{args.margin}, {source}; family-wise bounds 0.05"
    )
    adaptive = Schedule.adaptive(args.max_repeats, TRIALS - 1)
    for name, differences in scenarios(args.margin).items():
        rates, right_count, total, runs = run_scenario(
            differences, draw_for, adaptive, args.margin, args.studies, rng
        )
        print(f"\n{name} (true differences {differences}):")
        print(f"  --repeats auto (up to {args.max_repeats}): {runs:.1f} runs a study")
        for what, count in rates.items():
            print(f"    {what:20s} {interval(count, args.studies)}")
        print(f"    {'power':20s} {interval(right_count, total)}")
        for k in UNIFORM:
            fixed = Schedule.fixed(k, TRIALS - 1)
            _, fixed_right, _, fixed_runs = run_scenario(
                differences, draw_for, fixed, args.margin, args.studies // 4, rng
            )
            if fixed_right / (total // 4) >= right_count / total:
                print(
                    f"  uniform --repeats {k} reaches that power: {fixed_runs:.0f} "
                    f"runs a study ({fixed_runs / runs:.2f}x the adaptive runs)"
                )
                break
        else:
            print(f"  no uniform --repeats up to {UNIFORM[-1]} reaches that power")


if __name__ == "__main__":
    main()
