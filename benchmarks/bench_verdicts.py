"""Benchmark: the verdicts' error rates and costs, by simulation.

Simulates whole studies without training: each run's best objective is
drawn from noise (normal of the size measured on the real grid, Student t
with 3 degrees of freedom, or resampled from a real study's `runs.csv`),
part of it the effect of the run's seed, which every trial's run of that
seed shares under common seeds (`--independent-seeds` simulates studies
whose runs had seeds of their own), and the study's own decision code
decides: `tuning.analysis.judge` makes
every comparison from the runs so far, as the analysis does, and
`tuning.analysis.still_open` says which trials the next round trains, as
the oracle asks. A uniform `--repeats K` is the same code on one look.

For each scenario it prints, each with its 95% interval (Clopper-Pearson):
the family-wise rate of a false better or worse, of a false equivalent,
the power (the share of comparisons decided rightly), and the runs used,
against the smallest uniform K whose power is as high.

    python benchmarks/bench_verdicts.py                  # 2,000 studies a scenario
    python benchmarks/bench_verdicts.py --independent-seeds --only "real grid"
    python benchmarks/bench_verdicts.py --studies 500 --runs-csv logs/grid/runs.csv
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import math
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tuning import verdicts  # noqa: E402
from tuning.analysis import judge, still_open  # noqa: E402
from tuning.rounds import first_look  # noqa: E402
from tuning.settings import DEFAULT_MARGINS, StudySettings  # noqa: E402

MARGIN = DEFAULT_MARGINS["val_accuracy"]
# A run's best val_accuracy over seeds on the full data (docs/statistics.md):
# Baseline's spread was 0.0032 over 34 runs of the real grid, 0.0025 and
# 0.0047 over 10 in two others (0.0017 over 8, first measured, set the margin).
SEED_NOISE = 0.003
# The share of that variance a run's seed gives every trial that trains from
# it: 0.45 and 0.72 in two grids of six variants and ten common seeds
# (docs/statistics.md); the lower, rounded down.
SEED_SHARE = 0.4
REFERENCE = "reference"
LABELS = (REFERENCE, *(f"trial {i}" for i in range(1, 9)))  # the grid's nine
UNIFORM = (4, 6, 9, 12, 18, 27)
# The real grid's differences from Baseline (`--repeats auto --seed 1`, 12
# runs a trial), in its order: 1 Hidden Layer, 3 Hidden Layers, 32 Units,
# 64 Units, MSE Loss, Tanh Activation, Dropout, L2 Regularization.
REAL_GRID = [0.0017, -0.0026, 0.0, 0.0006, -0.0012, -0.0015, -0.0001, 0.0012]
# The spread of each trial's runs in the same grid, Baseline first, as
# measured again with the pooled method (docs/statistics.md): from 0.0014
# to 0.0050, not one spread.
REAL_SPREADS = [0.0032, 0.0014, 0.0046, 0.0035, 0.0022, 0.0041, 0.0050, 0.0040, 0.0015]

# draw(trial index, run indices) -> those runs' noise, mean 0.
Noise = Callable[[int, range], np.ndarray]
# (rng, common seeds) -> one study's `Noise`.
StudyNoise = Callable[[np.random.Generator, bool], Noise]


@dataclasses.dataclass(frozen=True)
class Scenario:
    """True differences of the eight trials from the reference, and how
    each trial's noise is drawn (index 0: the reference)."""

    differences: list[float]
    noise: StudyNoise


@dataclasses.dataclass(frozen=True)
class Outcome:
    """One simulated study: each comparison's verdict, and the runs it used."""

    verdicts: list[str]
    runs: int


def seeded(seed_sd: float, residual_sds: list[float], tails: int | None = None):
    """Run k of trial i: the effect of its seed (sd `seed_sd`), which every
    trial that trains from that seed shares (all of them with common seeds,
    none else), plus the trial's own noise (sd `residual_sds[i]`); normal,
    or Student t of `tails` degrees of freedom scaled to those sds."""

    def draw(rng: np.random.Generator, sd: float, n: int) -> np.ndarray:
        if tails is None:
            return rng.normal(0, sd, n)
        return rng.standard_t(tails, n) * sd / math.sqrt(tails / (tails - 2))

    def study(rng: np.random.Generator, common_seeds: bool) -> Noise:
        effects: dict = {}

        def noise(i: int, runs: range) -> np.ndarray:
            seeds = [k if common_seeds else (i, k) for k in runs]
            for seed in seeds:
                if seed not in effects:
                    effects[seed] = draw(rng, seed_sd, 1)[0]
            own = draw(rng, residual_sds[i], len(runs))
            return np.array([effects[seed] for seed in seeds]) + own

        return noise

    return study


def resampled(pool: np.ndarray) -> StudyNoise:
    """Runs' deviations resampled from a real study's, independently of
    their seeds: nothing is shared through a seed."""
    return lambda rng, common_seeds: lambda i, runs: rng.choice(pool, len(runs))


def scenarios(
    margin: float, noise: float, shared: float, pool: np.ndarray | None
) -> dict:
    """Name -> Scenario: noise of sd `noise` a run, the share `shared` of
    its variance given by the seed, in five settings of the true
    differences, a trial with three times the noise (all of its excess its
    own), heavy tails, the real grid's spreads trial by trial, and (with
    `pool`) a real study's runs."""
    seed_sd, own = noise * math.sqrt(shared), noise * math.sqrt(1 - shared)
    base = seeded(seed_sd, [own] * 9)
    loud = [own] * 9
    loud[1] = math.sqrt((3 * noise) ** 2 - seed_sd**2)
    real = [math.sqrt(max(sd**2 - seed_sd**2, 0.0)) for sd in REAL_SPREADS]
    found = {
        "all nine equal": Scenario([0.0] * 8, base),
        "one better by 2D": Scenario([2 * margin] + [0.0] * 7, base),
        "one worse by D/2": Scenario([-margin / 2] + [0.0] * 7, base),
        "mixed (+2D, -2D, +D/2, -D/2, four equal)": Scenario(
            [2 * margin, -2 * margin, margin / 2, -margin / 2, 0, 0, 0, 0], base
        ),
        "the real grid's differences": Scenario(REAL_GRID, base),
        "the real grid's differences and spreads": Scenario(
            REAL_GRID, seeded(seed_sd, real)
        ),
        "all equal, trial 1 at 3x the noise": Scenario(
            [0.0] * 8, seeded(seed_sd, loud)
        ),
        "all equal, Student t (3 df) noise": Scenario(
            [0.0] * 8, seeded(seed_sd, [own] * 9, tails=3)
        ),
    }
    if pool is not None:
        found["all equal, resampled real runs"] = Scenario([0.0] * 8, resampled(pool))
        found["mixed, resampled real runs"] = Scenario(
            found["mixed (+2D, -2D, +D/2, -D/2, four equal)"].differences,
            resampled(pool),
        )
    return found


def right(difference: float, verdict: str, margin: float) -> bool:
    """Whether a verdict is the right one for a true difference: better or
    worse past the margin, equivalent at no difference."""
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


def study_settings(
    repeats: int | str, margin: float, common_seeds: bool = True
) -> StudySettings:
    """The grid's settings for `--repeats auto` (up to `repeats` runs:
    pass `auto12`) or a uniform `--repeats K`."""
    if isinstance(repeats, str):
        most = int(repeats.removeprefix("auto"))
        return StudySettings(variants=LABELS, reference=REFERENCE, margin=margin,
                             repeats=first_look(most, common_seeds), max_repeats=most,
                             common_seeds=common_seeds)  # fmt: skip
    return StudySettings(variants=LABELS, reference=REFERENCE, margin=margin,
                         repeats=repeats, common_seeds=common_seeds)  # fmt: skip


def simulate(differences: list[float], draw: Noise, settings: StudySettings) -> Outcome:
    """One study: each round trains the runs its trials lack, the analysis
    judges, and the trials still open train in the next round (the
    reference with them), as `tuning.oracles.VariantGridOracle` does."""
    schedule = settings.schedule()
    means = [0.88, *(0.88 + d for d in differences)]
    values = {label: [] for label in LABELS}
    members = set(LABELS)
    for look in range(1, schedule.looks + 1):
        for i, label in enumerate(LABELS):
            if label in members:
                sizes = schedule.reference_runs if i == 0 else schedule.trial_runs
                runs = range(len(values[label]), sizes[look - 1])
                values[label] += list(means[i] + draw(i, runs))
        judged = judge(values, REFERENCE, settings, schedule)
        open_ = still_open(judged, look, schedule)
        if not open_:
            break
        members = open_ | {REFERENCE}
    found = [judged[label][0].verdict for label in LABELS[1:]]
    return Outcome(found, sum(len(v) for v in values.values()))


def run_scenario(scenario: Scenario, settings: StudySettings, studies: int, rng):
    """The false-verdict counts, the right verdicts and the mean runs over
    `studies` simulated studies."""
    margin, differences = settings.margin, scenario.differences
    outcomes = [
        simulate(differences, scenario.noise(rng, settings.common_seeds), settings)
        for _ in range(studies)
    ]
    pairs = [list(zip(differences, o.verdicts, strict=True)) for o in outcomes]
    rates = {
        "false better/worse": sum(
            any(false_better_or_worse(d, v) for d, v in p) for p in pairs
        ),
        "false equivalent": sum(
            any(false_equivalent(d, v, margin) for d, v in p) for p in pairs
        ),
    }
    right_count = sum(right(d, v, margin) for p in pairs for d, v in p)
    runs = float(np.mean([o.runs for o in outcomes]))
    return rates, right_count, len(differences) * studies, runs


def interval(count: int, total: int) -> str:
    from scipy import stats

    low, high = stats.binomtest(count, total).proportion_ci(0.95)
    return f"{count / total:.3f} [{low:.3f}, {high:.3f}]"


def read_pool(path: Path) -> np.ndarray:
    """Every trial's runs' objective from a real study, less its trial's
    mean: the seed-to-seed deviations the study measured."""
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    deviations = []
    for label in {row["label"] for row in rows}:
        runs = np.array([float(r["objective"]) for r in rows if r["label"] == label])
        if len(runs) > 1:
            deviations += list(
                (runs - runs.mean()) * math.sqrt(len(runs) / (len(runs) - 1))
            )
    return np.array(deviations)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--studies", type=int, default=2000)
    parser.add_argument("--max-repeats", type=int, default=12)
    parser.add_argument("--noise", type=float, default=SEED_NOISE)
    parser.add_argument(
        "--shared", type=float, default=SEED_SHARE,
        help="the share of a run's variance its seed gives every trial",
    )  # fmt: skip
    parser.add_argument(
        "--independent-seeds", action="store_false", dest="common_seeds",
        help="each trial's runs from seeds of their own (studies before common seeds)",
    )  # fmt: skip
    parser.add_argument("--margin", type=float, default=MARGIN)
    parser.add_argument("--runs-csv", type=Path, help="resample a real study's runs")
    parser.add_argument("--only", help="run the scenarios whose name contains this")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    rng = np.random.default_rng(args.seed)
    pool = read_pool(args.runs_csv) if args.runs_csv else None
    adaptive = study_settings(f"auto{args.max_repeats}", args.margin, args.common_seeds)
    schedule = adaptive.schedule()
    print(
        f"{args.studies} studies a scenario, 9 trials, margin D = {args.margin}, "
        f"noise sd {args.noise}, {args.shared:g} of its variance the seed's, "
        + ("common seeds" if args.common_seeds else "independent seeds")
        + (
            f", real runs from {args.runs_csv} ({len(pool)} runs)"
            if pool is not None
            else ""
        )
        + "; family-wise bounds 0.05; schedule "
        f"{schedule.trial_runs} (reference {schedule.reference_runs})"
    )
    print(
        "| scenario | runs a study | false better/worse | false equivalent "
        "| power | uniform K reaching it |"
    )
    print("| --- | --- | --- | --- | --- | --- |")
    found = scenarios(args.margin, args.noise, args.shared, pool)
    for name, scenario in found.items():
        if args.only and args.only not in name:
            continue
        rates, right_count, total, runs = run_scenario(
            scenario, adaptive, args.studies, rng
        )
        false_rates = [interval(count, args.studies) for count in rates.values()]
        print(
            f"| {name} | {runs:.1f} | {false_rates[0]} | {false_rates[1]} "
            f"| {interval(right_count, total)} "
            f"| {_uniform_reaching(scenario, right_count / total, runs, args, rng)} |",
            flush=True,
        )


def _uniform_reaching(scenario, power, runs, args, rng) -> str:
    """The smallest uniform K whose power (over a quarter as many studies)
    is as high, and its runs against the adaptive study's."""
    for k in UNIFORM:
        settings = study_settings(k, args.margin, args.common_seeds)
        _, fixed_right, total, fixed_runs = run_scenario(
            scenario, settings, args.studies // 4, rng
        )
        if fixed_right / total >= power:
            return f"{k}: {fixed_runs:.0f} runs ({fixed_runs / runs:.2f}x)"
    return f"none up to {UNIFORM[-1]}"


if __name__ == "__main__":
    main()
