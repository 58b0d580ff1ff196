"""How often importance names a hyperparameter "clearly ahead", simulated.

Each simulated study is a random search over the wide space (the points
Keras Tuner's random search samples) whose trials score by a known rule,
one run of one epoch each: pure noise,
where any leader is a false one, and the learning rate driving the
objective strongly or weakly beside noise, where the learning rate should
lead. Each study is assessed as a real one is (`tuning.importance.assess`,
fANOVA by Optuna, resampled intervals), and the script prints how often a
leader was named, and how often it was the right one, with Clopper-Pearson
95% intervals.

    python benchmarks/bench_importance.py --studies 40 --trials 30

(Run by hand; half a minute to a minute a study on a shared 2-core machine.)
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
from scipy import stats  # noqa: E402

from hypermodels import WIDE_SPACE  # noqa: E402
from tuning.analysis import Analysis, analyze  # noqa: E402
from tuning.importance import RESAMPLES, assess  # noqa: E402
from tuning.records import RunRecord, TrialRecord  # noqa: E402
from tuning.settings import StudySettings  # noqa: E402


def scenarios(noise_sd: float) -> dict:
    """Scenario name -> (score rule, the hyperparameter that should lead)."""

    def learning_rate(strength: float):
        def score(values, rng):
            lr = math.log10(values["learning_rate"])  # -4 to -2
            return 0.85 + strength * (lr + 3) + rng.normal(0, noise_sd)

        return score

    return {
        "noise": (lambda values, rng: 0.85 + rng.normal(0, noise_sd), None),
        # The learning rate's effect over its range, 10 and 2 times the noise sd.
        "strong": (learning_rate(5 * noise_sd), "learning_rate"),
        "weak": (learning_rate(noise_sd), "learning_rate"),
    }


def sampled_points(count: int, seed: int) -> list[dict]:
    """`count` points of the wide space, sampled as Keras Tuner's random
    search samples them (`Oracle._random_values`), a rate only when on."""
    import keras_tuner as kt

    from hypermodels.space import declare

    declared = kt.HyperParameters()
    declare(declared, WIDE_SPACE)
    points = []
    for _ in range(count):
        point = kt.HyperParameters()
        for hyperparameter in declared.space:
            point.merge([hyperparameter])
            if point.is_active(hyperparameter):
                point.values[hyperparameter.name] = hyperparameter.random_sample(seed)
                seed += 1
        points.append(dict(point.values))
    return points


def simulated_search(score, trials: int, seed: int) -> Analysis:
    """An analysed random search of `trials` trials, each one run whose one
    epoch scores `score(values, rng)` in val_accuracy."""
    rng = np.random.default_rng(seed)
    records = []
    for i, values in enumerate(sampled_points(trials, seed)):
        accuracy = score(values, rng)
        history = {"epoch": [0], "accuracy": [accuracy], "loss": [0.5],
                   "val_accuracy": [accuracy], "val_loss": [0.5]}  # fmt: skip
        run = RunRecord(0, history, seed=1)
        records.append(TrialRecord(f"t{i}", f"t{i}", "COMPLETED", values, [run]))
    settings = StudySettings(mode="random", space=WIDE_SPACE, seed=1, max_trials=trials)
    return analyze(records, settings)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--studies", type=int, default=40)
    parser.add_argument("--trials", type=int, default=30)
    parser.add_argument("--resamples", type=int, default=RESAMPLES)
    parser.add_argument("--noise", type=float, default=0.01, help="trial noise sd")
    parser.add_argument(
        "--scenario", choices=["noise", "strong", "weak"], action="append",
        help="the scenarios to simulate (default: all)",
    )  # fmt: skip
    args = parser.parse_args()
    print(
        f"{args.studies} studies a scenario, {args.trials} trials each, "
        f"{args.resamples} resamples, trial noise sd {args.noise}"
    )
    for name, (score, expected) in scenarios(args.noise).items():
        if args.scenario and name not in args.scenario:
            continue
        named = right = 0
        for study in range(args.studies):
            analysis = simulated_search(score, args.trials, seed=1000 + study)
            leader = assess(analysis, args.resamples).leader
            named += leader is not None
            right += leader is not None and leader.name == expected
        rate = _rate(right if expected else named, args.studies)
        what = "the right leader named" if expected else "a (false) leader named"
        print(f"{name}: {what} in {rate}; any leader in {named}/{args.studies}")


def _rate(count: int, total: int) -> str:
    interval = stats.binomtest(count, total).proportion_ci(method="exact")
    return (
        f"{count}/{total} = {count / total:.3f} "
        f"[{interval.low:.3f}, {interval.high:.3f}]"
    )


if __name__ == "__main__":
    main()
