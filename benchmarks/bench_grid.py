"""Benchmark: the notebook's training loop vs `python -m tuning.search --mode grid`.

Runs, on the same data and alternating, (a) a faithful reference of the
notebook's loop -- plain Keras on the TensorFlow backend, one
`model.fit(x_train, y_train, epochs, validation_data=test, batch_size=32)` per
variant -- and (b) the tool's grid search with its defaults. Each run is a fresh
process, timed from start to exit (imports and data loading included), with its
peak resident memory. Prints each run, then medians, every variant's best
val_accuracy side by side, and the speed ratio (a) / (b): of the medians,
and of each alternating pair, whose two runs share the shared machine's
speed of the moment, with the median of those. Every tool run
starts from an empty --logdir and an empty JAX compilation cache
($JAX_COMPILATION_CACHE_DIR), so nothing is compiled yet; then the last one is
rerun over its cache, which holds its compiled steps, as the machine's cache
(~/.cache/imdb-tune/xla) holds them for a user's later studies.
It prints the training floor it measured: the fastest epoch (training and
validation) of the tool's runs, read from the epoch-end times in their
TensorBoard logs, times the study's epochs, and the tool's wall time as a
multiple of it; then the floor from each variant's own fastest epoch, and
the time its median epochs take. Finally, the tool's peak memory after one
trial is compared with its peak after all of them, and the quick check
(`--variants Baseline --epochs 1 --limit 500`) is timed from an empty
compilation cache (a machine's first) and again over it (every later one),
and `--help`.

With `--hyperband` it runs instead a seeded 10-epoch Hyperband search and
prints its wall time, the epochs it trained and its best val_accuracy.
With `--study-repeats K` it measures instead what repeated runs cost: the
tool's grid with `--repeats 1` and with `--repeats K`, alternating, each from
an empty --logdir, and prints the ratio of their medians (at most K means the
repeats reuse what the first run compiled).

    python benchmarks/bench_grid.py                 # the full study, 10 epochs
    python benchmarks/bench_grid.py --quick         # 2 variants, 2 epochs
    python benchmarks/bench_grid.py --repeats 3 --data ../shared/data/imdb.npz
    python benchmarks/bench_grid.py --study-repeats 5   # one grid vs 5 repeats
    python benchmarks/bench_grid.py --hyperband         # epochs a search trains
"""

from __future__ import annotations

import argparse
import csv
import itertools
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from hypermodels.variants import VARIANTS, VARIANTS_BY_NAME  # noqa: E402

DEFAULT_DATA = REPO.parent / "shared" / "data" / "imdb.npz"


def reference_loop(variant_names, epochs, data_path, limit):
    """The notebook's loop, in this process: one plain `model.fit` per variant.

    Returns:
        Variant name -> best val_accuracy over the epochs.
    """
    import keras

    from tuning.data import load_imdb

    data = load_imdb(data_path)
    if limit:
        data = data.head(limit)
    best = {}
    for name in variant_names:
        v = VARIANTS_BY_NAME[name]
        regularizer = keras.regularizers.L2(v.l2) if v.l2 else None
        model = keras.Sequential([keras.layers.Embedding(10_000, 64)])
        model.add(keras.layers.GlobalAveragePooling1D())
        for _ in range(v.hidden_layers):
            model.add(
                keras.layers.Dense(
                    v.units, v.activation, kernel_regularizer=regularizer
                )
            )
            if v.dropout:
                model.add(keras.layers.Dropout(v.dropout))
        model.add(keras.layers.Dense(1, activation="sigmoid"))
        model.compile(optimizer="adam", loss=v.loss, metrics=["binary_accuracy"])
        history = model.fit(
            data.x_train,
            data.y_train,
            epochs=epochs,
            batch_size=32,
            validation_data=(data.x_test, data.y_test),
            verbose=0,
        )
        best[name] = max(history.history["val_binary_accuracy"])
    return best


def timed(command, env=None):
    """Runs `command`; returns (wall seconds, peak RSS in MiB, stdout)."""
    start = time.perf_counter()
    process = subprocess.Popen(
        command, cwd=REPO, env=env, stdout=subprocess.PIPE, text=True
    )
    stdout = process.stdout.read()
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"benchmark run failed: {' '.join(command)}")
    return wall, usage.ru_maxrss / 1024, stdout


def run_reference(args):
    env = dict(os.environ, KERAS_BACKEND="tensorflow", TF_CPP_MIN_LOG_LEVEL="2")
    command = [sys.executable, __file__, "--child-reference", *common_flags(args)]
    wall, rss, stdout = timed(command, env)
    return wall, rss, json.loads(stdout.strip().splitlines()[-1])


def run_tool(args, variants, logdir, study_repeats=1, cache=None):
    """Runs the tool's grid; `cache`: its JAX compilation cache, by default
    a new, empty one."""
    command = [sys.executable, "-m", "tuning.search", "--mode", "grid"]
    command += ["--repeats", str(study_repeats)]
    command += ["--epochs", str(args.epochs), "--variants", ",".join(variants)]
    command += ["--data", str(args.data), "--logdir", str(logdir), "--overwrite", "-q"]
    command += ["--limit", str(args.limit)] if args.limit else []
    env = {k: v for k, v in os.environ.items() if k != "KERAS_BACKEND"}
    env["JAX_COMPILATION_CACHE_DIR"] = str(cache or tempfile.mkdtemp())
    wall, rss, _ = timed(command, env)
    with open(Path(logdir) / "grid" / "results.csv", newline="") as f:
        best = {
            row["label"]: float(row["best_val_accuracy"]) for row in csv.DictReader(f)
        }
    return wall, rss, best


def epoch_seconds(logdir) -> list[list[float]]:
    """Per training run, the times between its epoch ends (every epoch but
    the first, which also compiles), from the wall times of the `epoch_loss`
    events the tool writes at each epoch end."""
    from tensorboard.backend.event_processing import event_accumulator

    runs = []
    for run in Path(logdir).glob("*/tensorboard/**/train"):
        events = event_accumulator.EventAccumulator(
            str(run), size_guidance={event_accumulator.TENSORS: 0}
        )
        events.Reload()
        ends = sorted(events.Tensors("epoch_loss"), key=lambda e: e.step)
        runs.append([b.wall_time - a.wall_time for a, b in itertools.pairwise(ends)])
    return runs


def floors(runs: list[list[float]], epochs: int) -> dict[str, float]:
    """Training floors of a study whose runs train `epochs` epochs each: the
    fastest epoch of all times all epochs (the issue's), each run's fastest
    epoch times its epochs, and each run's median epoch times its epochs."""
    fastest = min(min(run) for run in runs)
    return {
        "fastest": fastest,
        "all fastest": fastest * epochs * len(runs),
        "each fastest": sum(min(run) * epochs for run in runs),
        "each median": sum(statistics.median(run) * epochs for run in runs),
    }


def quick_check_seconds(args, repeats=3):
    """Median wall times of the quick check, each from an empty --logdir:
    from an empty compilation cache, and again over it."""
    walls = {"empty": [], "warm": []}
    for _ in range(repeats):
        cache = tempfile.mkdtemp()
        env = dict(os.environ, JAX_COMPILATION_CACHE_DIR=cache)
        for kind in walls:
            command = [sys.executable, "-m", "tuning.search", "--variants"]
            command += ["Baseline", "--epochs", "1", "--limit", "500"]
            command += ["--data", str(args.data), "--logdir", tempfile.mkdtemp(), "-q"]
            walls[kind].append(timed(command, env)[0])
    return {kind: statistics.median(values) for kind, values in walls.items()}


def hyperband(args):
    """A seeded 10-epoch Hyperband search: wall time, epochs trained, best."""
    logdir = tempfile.mkdtemp()
    command = [sys.executable, "-m", "tuning.search", "--mode", "hyperband"]
    command += ["--epochs", "10", "--seed", "1", "--data", str(args.data)]
    command += ["--logdir", logdir, "-q"]
    command += ["--limit", str(args.limit)] if args.limit else []
    env = dict(os.environ, JAX_COMPILATION_CACHE_DIR=tempfile.mkdtemp())
    wall, rss, _ = timed(command, env)
    with open(Path(logdir) / "hyperband" / "results.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    epochs = sum(int(row["epochs"]) for row in rows)
    best = max(float(row["best_val_accuracy"]) for row in rows)
    print(
        f"hyperband, 10 epochs, seed 1: {wall:.1f} s, {len(rows)} trials, "
        f"{epochs} epochs trained, best val_accuracy {best:.4f}, {rss:.0f} MiB"
    )


def machine() -> str:
    """The CPU model and count, for the figures' record."""
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
        names = (line.split(":", 1)[1] for line in lines if "model name" in line)
        model = next(names).strip()
    except (OSError, StopIteration):
        model = platform.processor() or platform.machine()
    return f"{os.cpu_count()} x {model}"


def common_flags(args):
    flags = ["--epochs", str(args.epochs), "--variants", ",".join(args.variants)]
    flags += ["--data", str(args.data)]
    return flags + (["--limit", str(args.limit)] if args.limit else [])


def report(args, runs):
    epochs = args.epochs * len(args.variants)
    print(f"\nmedians of {args.repeats} run(s) each:")
    print(f"{'':12}{'wall s':>9}{'s/epoch':>9}{'peak RSS MiB':>14}")
    medians = {}
    for kind in ("reference", "tool"):
        wall = statistics.median(r[0] for r in runs[kind])
        rss = statistics.median(r[1] for r in runs[kind])
        medians[kind] = wall
        print(f"{kind:12}{wall:9.1f}{wall / epochs:9.2f}{rss:14.0f}")
    print(f"\n{'variant':20}{'reference':>11}{'tool':>8}   best val_accuracy (median)")
    for name in args.variants:
        ref = statistics.median(r[2][name] for r in runs["reference"])
        tool = statistics.median(r[2][name] for r in runs["tool"])
        print(f"{name:20}{ref:11.4f}{tool:8.4f}")
    ratio = medians["reference"] / medians["tool"]
    print(f"\nspeed ratio (reference / tool), of the medians: {ratio:.2f}")
    pairs = [r[0] / t[0] for r, t in zip(runs["reference"], runs["tool"], strict=True)]
    print(
        "speed ratio of each pair, side by side: "
        + ", ".join(f"{pair:.2f}" for pair in pairs)
        + f"; median {statistics.median(pairs):.2f}"
    )


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--variants", default=",".join(v.name for v in VARIANTS))
    parser.add_argument("--limit", type=int, help="reviews per split (default all)")
    parser.add_argument("--repeats", type=int, default=1, help="alternating pairs")
    parser.add_argument(
        "--data", type=Path, default=Path(os.environ.get("IMDB_DATA", DEFAULT_DATA))
    )
    parser.add_argument("--quick", action="store_true", help="2 variants, 2 epochs")
    parser.add_argument(
        "--hyperband", action="store_true", help="time a 10-epoch Hyperband search"
    )
    parser.add_argument(
        "--study-repeats",
        type=int,
        metavar="K",
        help="time the tool's grid with --repeats 1 against --repeats K instead",
    )
    parser.add_argument(
        "--child-reference", action="store_true", help=argparse.SUPPRESS
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.epochs, args.variants = 2, "Baseline,MSE Loss"
    args.variants = args.variants.split(",")
    return args


def help_seconds(repeats=5):
    """Median wall time of `python -m tuning.search --help`."""
    command = [sys.executable, "-m", "tuning.search", "--help"]
    return statistics.median(timed(command)[0] for _ in range(repeats))


def repeats_cost(args):
    """Times the grid with one run per trial against `--study-repeats` runs."""
    k = args.study_repeats
    walls = {1: [], k: []}
    with tempfile.TemporaryDirectory() as root:
        for repeat in range(args.repeats):
            for study_repeats in walls:
                logdir = tempfile.mkdtemp(dir=root)
                wall, rss, _ = run_tool(args, args.variants, logdir, study_repeats)
                walls[study_repeats].append(wall)
                print(
                    f"run {repeat + 1} --repeats {study_repeats:<3}: {wall:7.1f} s, "
                    f"{rss:6.0f} MiB",
                    flush=True,
                )
    one, many = (statistics.median(walls[r]) for r in (1, k))
    print(f"\nmedians of {args.repeats} run(s): --repeats 1 {one:.1f} s, ", end="")
    print(f"--repeats {k} {many:.1f} s; cost ratio {many / one:.2f} (at most {k})")


def main(argv=None):
    args = parse_args(argv)
    if args.hyperband:
        hyperband(args)
        return 0
    if args.study_repeats:
        print(
            f"{len(args.variants)} variants x {args.epochs} epochs, data {args.data}, "
            f"limit {args.limit or 'none'}, {machine()}"
        )
        repeats_cost(args)
        return 0
    if args.child_reference:
        print(
            json.dumps(
                reference_loop(args.variants, args.epochs, args.data, args.limit)
            )
        )
        return 0
    print(
        f"{len(args.variants)} variants x {args.epochs} epochs, data {args.data}, "
        f"limit {args.limit or 'none'}, {machine()}"
    )
    runs = {"reference": [], "tool": []}
    measured = []
    with tempfile.TemporaryDirectory() as root:
        for repeat in range(args.repeats):
            for kind in ("reference", "tool"):
                if kind == "reference":
                    result = run_reference(args)
                else:  # a fresh --logdir and cache: nothing compiled yet
                    logdir = tempfile.mkdtemp(dir=root)
                    cache = tempfile.mkdtemp(dir=root)
                    result = run_tool(args, args.variants, logdir, cache=cache)
                    measured.append(floors(epoch_seconds(logdir), args.epochs))
                runs[kind].append(result)
                wall, rss, _ = result
                print(
                    f"run {repeat + 1} {kind:9}: {wall:7.1f} s, {rss:6.0f} MiB",
                    flush=True,
                )
        report(args, runs)
        tool = statistics.median(r[0] for r in runs["tool"])
        floor = {key: min(m[key] for m in measured) for key in measured[0]}
        multiples = [
            run[0] / floors_of_run["all fastest"]
            for run, floors_of_run in zip(runs["tool"], measured, strict=True)
        ]
        print(
            f"training floor: fastest epoch {floor['fastest']:.2f} s x "
            f"{args.epochs * len(args.variants)} epochs = {floor['all fastest']:.1f}"
            f" s; tool = {tool / floor['all fastest']:.2f} x the floor"
        )
        print(
            "each tool run against its own floor: "
            + ", ".join(f"{multiple:.2f}" for multiple in multiples)
            + f" x; median {statistics.median(multiples):.2f} x"
        )
        print(
            "per variant, its fastest epoch x its epochs: "
            f"{floor['each fastest']:.1f} s (tool = "
            f"{tool / floor['each fastest']:.2f} x); its median epoch x its "
            f"epochs: {floor['each median']:.1f} s (tool = "
            f"{tool / floor['each median']:.2f} x)"
        )
        rerun_wall, _, _ = run_tool(args, args.variants, logdir, cache=cache)
        print(f"tool rerun, compiled steps on disk: {rerun_wall:.1f} s")
        _, one_trial_rss, _ = run_tool(
            args, args.variants[:1], tempfile.mkdtemp(dir=root)
        )
    all_trials_rss = statistics.median(r[1] for r in runs["tool"])
    print(f"tuning.search --help: {help_seconds():.2f} s (median of 5)")
    quick = quick_check_seconds(args)
    print(
        "quick check (--variants Baseline --epochs 1 --limit 500), medians of 3: "
        f"{quick['empty']:.2f} s from an empty compilation cache, "
        f"{quick['warm']:.2f} s over it"
    )
    growth = all_trials_rss / one_trial_rss - 1
    print(
        f"tool peak RSS: {one_trial_rss:.0f} MiB after 1 trial, "
        f"{all_trials_rss:.0f} MiB after {len(args.variants)} ({growth:+.1%})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
