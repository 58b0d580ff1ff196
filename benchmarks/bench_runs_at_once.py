"""Benchmark: many runs at once, on whatever device JAX trains on here.

Prints, for the device it runs on (a CPU or a GPU), each timed as a fresh
process from start to exit (imports, data and writes included):

- the quick check (`--variants Baseline --epochs 1 --limit 500`), from an
  empty compilation cache and again over it, and where its time goes: the
  device's start and the imports, each timed on its own;
- the grid (9 variants x `--epochs`), from an empty cache and over it;
- `--repeats K` on `--group-variants`, with `--runs-at-once 1` and with the
  device's default (all of a trial's runs on a GPU), alternating, over the
  cache, and the ratio of each pair;
- the whole `--repeats K` grid with the device's default, over the cache;
- optionally (`--workers N`) the grid on N workers sharing the device;
- the notebook's loop on Keras 3 (`--notebook FILE`, e.g.
  ../shared/gpu/notebook_keras.py, for a machine without TensorFlow) over
  `--notebook-epochs` epochs, beside the tool's grid over the same epochs,
  and their ratio.

Every figure is a median of `--reps` runs. Results go to a fresh --logdir
each time; compilations to a cache directory of their own.

    python benchmarks/bench_runs_at_once.py --data ../shared/data/imdb.npz
    python benchmarks/bench_runs_at_once.py --reps 1 --workers 3 \\
        --notebook .gpu/notebook_keras.py --notebook-epochs 2    # on a GPU
"""

from __future__ import annotations

import argparse
import csv
import itertools
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO.parent / "shared" / "data" / "imdb.npz"


def timed(command: list[str], env: dict) -> float:
    """Runs `command` in the repository; returns its wall seconds, or NaN
    (and prints why) if it failed, so that one failure costs one figure."""
    start = time.perf_counter()
    done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        print(f"FAILED ({done.returncode}): {' '.join(command)}", flush=True)
        print(done.stderr[-3000:], flush=True)
        return math.nan
    return wall


def epoch_costs(data: Path, counts: list[int], epochs: int = 3) -> None:
    """The tool's trainer alone, in this process: seconds per epoch
    (training and validation, after the first, which compiles) of K
    Baseline runs trained together, for each K in `counts`."""
    os.environ["KERAS_BACKEND"] = "jax"
    sys.path.insert(0, str(REPO))
    import keras
    import keras_tuner as kt

    from hypermodels import SentimentHyperModel
    from tuning.data import load_imdb
    from tuning.grouped import RunGroup
    from tuning.settings import NUM_WORDS, SEQUENCE_LENGTH

    reviews = load_imdb(data, NUM_WORDS, SEQUENCE_LENGTH)
    hypermodel = SentimentHyperModel(vocab_size=NUM_WORDS)
    for count in counts:
        group = RunGroup(
            reviews.x_train, reviews.y_train, (reviews.x_test, reviews.y_test), 32, 125
        )
        for seed in range(count):
            keras.utils.set_random_seed(seed)
            group.add(hypermodel.build(kt.HyperParameters()))
        ends = []
        timer = keras.callbacks.LambdaCallback(
            on_epoch_end=lambda *_, ends=ends: ends.append(time.perf_counter())
        )
        group.fit(epochs, [[timer] if k == 0 else [] for k in range(count)], verbose=0)
        epoch = statistics.median(b - a for a, b in itertools.pairwise(ends))
        report(
            f"trainer alone, {count} Baseline runs at once, one epoch",
            epoch,
            f"({epoch / count * 1000:.0f} ms a run-epoch)",
        )


def search(args, cache: str, *flags: str, logdir: str | None = None) -> float:
    """One `python -m tuning.search` with `flags`, in a fresh --logdir."""
    command = [sys.executable, "-m", "tuning.search", "--data", str(args.data)]
    command += ["--logdir", logdir or tempfile.mkdtemp(), "-q", "--seed", "1", *flags]
    command += ["--limit", str(args.limit)] if args.limit else []
    env = dict(os.environ, JAX_COMPILATION_CACHE_DIR=cache, KERAS_BACKEND="jax")
    return timed(command, env)


def largest_differences(a: Path, b: Path) -> dict[str, float]:
    """The largest difference of each metric between two studies'
    `histories.csv`, run by run and epoch by epoch."""
    with open(a, newline="") as fa, open(b, newline="") as fb:
        rows = list(zip(csv.DictReader(fa), csv.DictReader(fb), strict=True))
    metrics = ("loss", "accuracy", "val_loss", "val_accuracy")
    return {m: max(abs(float(x[m]) - float(y[m])) for x, y in rows) for m in metrics}


def median_of(reps: int, measure) -> float:
    return statistics.median(measure() for _ in range(reps))


def python_seconds(code: str) -> float:
    """Wall seconds of `python -c code`: a process' start and what it does."""
    env = dict(os.environ, KERAS_BACKEND="jax")
    return timed([sys.executable, "-c", code], env)


def report(name: str, seconds: float, note: str = "") -> None:
    print(f"{name:<52} {seconds:8.1f} s {note}", flush=True)


def quick_check(args) -> None:
    quick = ["--variants", "Baseline", "--epochs", "1", "--limit", "500"]
    cold = median_of(args.reps, lambda: search(args, tempfile.mkdtemp(), *quick))
    cache = tempfile.mkdtemp()
    search(args, cache, *quick)
    report("quick check, empty compile cache", cold)
    report(
        "quick check, over the cache",
        median_of(args.reps, lambda: search(args, cache, *quick)),
    )
    report(
        "  of which: python + import jax + start the device",
        median_of(args.reps, lambda: python_seconds("import jax; jax.devices()")),
    )
    report(
        "  of which: python + import the tool (tuning.study)",
        median_of(args.reps, lambda: python_seconds("import tuning.study")),
    )


def grouped_against_one(args, cache: str) -> None:
    """The same trials with --runs-at-once 1 and `--group` (by default the
    device's default), alternating."""
    flags = ["--variants", args.group_variants, "--repeats", str(args.repeats)]
    flags += ["--epochs", str(args.epochs)]
    flags += ["--runs-at-once", str(args.group)] if args.group else []
    one_logdir, default_logdir = tempfile.mkdtemp(), tempfile.mkdtemp()
    search(args, cache, *flags, logdir=default_logdir)  # fills the cache for both
    search(args, cache, *flags, "--runs-at-once", "1", logdir=one_logdir)
    differences = largest_differences(
        *(Path(d) / "grid" / "histories.csv" for d in (one_logdir, default_logdir))
    )
    print(
        "largest difference, runs at once 1 against the group: "
        + ", ".join(f"{m} {v:.2g}" for m, v in differences.items()),
        flush=True,
    )
    pairs = [
        (
            search(args, cache, *flags, "--runs-at-once", "1"),
            search(args, cache, *flags),
        )
        for _ in range(args.reps)
    ]
    one, default = (statistics.median(p[i] for p in pairs) for i in (0, 1))
    ratio = statistics.median(p[0] / p[1] for p in pairs)
    name = f"{args.group_variants} --repeats {args.repeats}"
    report(f"{name}, runs at once 1", one)
    group = args.group or "the default"
    report(f"{name}, runs at once: {group}", default, f"(1 / {group}: {ratio:.2f}x)")


def grids(args, cache: str) -> None:
    """The grid and the --repeats grid, each first run once to fill the
    cache with its programs (a group's differ from one run's)."""
    epochs = ["--epochs", str(args.epochs)]
    report(
        f"grid, 9 x {args.epochs} epochs, empty compile cache",
        search(args, tempfile.mkdtemp(), *epochs),
    )
    search(args, cache, *epochs)
    grid = median_of(args.reps, lambda: search(args, cache, *epochs))
    repeated = ["--repeats", str(args.repeats), *epochs]
    search(args, cache, *repeated)
    grid_repeats = median_of(args.reps, lambda: search(args, cache, *repeated))
    report(f"grid --repeats {args.repeats}, over the cache", grid_repeats)
    report(
        f"grid, 9 x {args.epochs} epochs, over the cache",
        grid,
        f"(--repeats {args.repeats}: {grid_repeats / grid:.1f}x one grid)",
    )
    if args.workers:
        workers = ["--workers", str(args.workers), *epochs]
        report(
            f"grid on {args.workers} workers, over the cache",
            median_of(args.reps, lambda: search(args, cache, *workers)),
        )


def notebook(args, cache: str) -> None:
    """The notebook's loop beside the tool's grid, over the same epochs."""
    env = dict(os.environ, IMDB_DATA=str(args.data), KERAS_BACKEND="jax")
    book = [sys.executable, str(args.notebook), str(args.notebook_epochs)]
    short = ["--epochs", str(args.notebook_epochs)]
    pairs = [(timed(book, env), search(args, cache, *short)) for _ in range(args.reps)]
    ratio = statistics.median(b / t for b, t in pairs)
    report(
        f"notebook loop, 9 x {args.notebook_epochs} epochs",
        statistics.median(p[0] for p in pairs),
    )
    report(
        f"grid, 9 x {args.notebook_epochs} epochs, over the cache",
        statistics.median(p[1] for p in pairs),
        f"(notebook / tool {ratio:.1f}x)",
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--group-variants", default="Baseline,Dropout")
    parser.add_argument(
        "--group", type=int, help="runs at once to compare with 1 (the default's)"
    )
    parser.add_argument("--workers", type=int, default=0)
    parser.add_argument("--limit", type=int, help="reviews per split (a smoke test)")
    parser.add_argument("--notebook", type=Path)
    parser.add_argument("--notebook-epochs", type=int, default=10)
    parser.add_argument("--epoch-costs", metavar="K,...")
    parser.add_argument("--only-epoch-costs", metavar="K,...", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.only_epoch_costs:
        counts = [int(k) for k in args.only_epoch_costs.split(",")]
        return epoch_costs(args.data, counts)

    env = dict(os.environ, KERAS_BACKEND="jax")
    code = "from tuning.grouped import device_description as d; print(d())"
    device = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True
    ).stdout.strip()
    print(f"device: {device}; medians of {args.reps}", flush=True)
    if args.epoch_costs:  # in a process of its own, which then ends
        command = [sys.executable, __file__, "--data", str(args.data)]
        subprocess.run([*command, "--only-epoch-costs", args.epoch_costs], check=False)
    cache = tempfile.mkdtemp()
    grouped_against_one(args, cache)
    grids(args, cache)
    quick_check(args)
    if args.notebook:
        notebook(args, cache)


if __name__ == "__main__":
    main()
