"""Benchmark: how a search scales with workers on this machine's cores.

Runs the same seeded random search (12 trials by default, on the full data)
in one process, and with `--workers 1`, `--workers 2`, ... up to the cores
this process may use, alternating the order over rounds; each run is a
fresh process from an empty --logdir (nothing compiled yet), timed from
start to exit. Prints each run, then the median wall time of each setting
and its speed-up over one process, side by side.

Then, with as many workers as cores, it compares the two ways workers can
share the cores: each bound to its own share (`--cpus`, what `--workers`
does) or all of them free to use every core (XLA sizes its thread pools to
the cores it may use). Those workers are started by hand with the command a
second machine would use (`python -m tuning.worker RUN_DIR`), which also
gives each one's peak resident memory, the figure `--workers` checks against
the machine's memory.

    python benchmarks/bench_workers.py                     # 12 trials, 3 epochs
    python benchmarks/bench_workers.py --rounds 1 --limit 2000 --epochs 1
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tuning.distributed.cluster import divide_cores  # noqa: E402

DEFAULT_DATA = REPO.parent / "shared" / "data" / "imdb.npz"
# A user's shell: the tool chooses its backend.
ENV = {k: v for k, v in os.environ.items() if not k.startswith("KERAS")}


def search_command(args, logdir: Path, *extra: str) -> list[str]:
    command = [sys.executable, "-m", "tuning.search", "--mode", "random"]
    command += ["--max-trials", str(args.trials), "--epochs", str(args.epochs)]
    command += ["--seed", "1", "--data", str(args.data), "--logdir", str(logdir)]
    command += ["--limit", str(args.limit)] if args.limit else []
    return [*command, "-q", *extra]


def run_search(args, workers: int | None) -> float:
    """Wall seconds of one search; `workers=None`: in one process."""
    with tempfile.TemporaryDirectory() as logdir:
        extra = ("--workers", str(workers)) if workers else ()
        start = time.perf_counter()
        subprocess.run(
            search_command(args, Path(logdir), *extra),
            cwd=REPO,
            env=ENV,
            check=True,
            stdout=subprocess.DEVNULL,
        )
        return time.perf_counter() - start


def run_by_hand(args, workers: int, pinned: bool) -> tuple[float, list[float]]:
    """A chief and `workers` workers started as on several machines.

    Returns:
        Wall seconds, and each worker's peak resident memory in GiB.
    """
    cores = divide_cores(workers, sorted(os.sched_getaffinity(0)))
    with tempfile.TemporaryDirectory() as logdir:
        run_dir = Path(logdir) / "random"
        start = time.perf_counter()
        chief = subprocess.Popen(
            search_command(args, Path(logdir), "--chief"),
            cwd=REPO,
            env=ENV,
            stdout=subprocess.DEVNULL,
        )
        while not (run_dir / ".chief.json").is_file():
            if chief.poll() is not None:
                sys.exit("the chief exited before it listened")
            time.sleep(0.05)
        started = []
        for i in range(workers):
            command = [sys.executable, "-m", "tuning.worker", str(run_dir), "-q"]
            if pinned:
                command += ["--cpus", ",".join(map(str, cores[i]))]
            started.append(
                subprocess.Popen(command, cwd=REPO, env=ENV, stdout=subprocess.DEVNULL)
            )
        peaks = [os.wait4(w.pid, 0)[2].ru_maxrss / 2**20 for w in started]
        if chief.wait() != 0:
            sys.exit("the chief failed")
        return time.perf_counter() - start, peaks


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=12)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=3, help="runs of each setting")
    parser.add_argument("--limit", type=int, help="reviews per split (default: all)")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    return parser.parse_args(argv)


def main(argv=None) -> None:
    args = parse_args(argv)
    cores = len(os.sched_getaffinity(0))
    settings = [None, *range(1, cores + 1)]
    names = {None: "one process", **{n: f"--workers {n}" for n in settings[1:]}}
    print(
        f"{args.trials}-trial random search, {args.epochs} epochs, "
        f"{'all' if not args.limit else args.limit} reviews, {cores} cores, "
        f"{args.rounds} rounds"
    )
    walls = {setting: [] for setting in settings}
    for round_number in range(args.rounds):
        order = settings if round_number % 2 == 0 else settings[::-1]
        for setting in order:
            wall = run_search(args, setting)
            walls[setting].append(wall)
            print(f"  round {round_number + 1}: {names[setting]:<12} {wall:7.1f} s")
    one = statistics.median(walls[None])
    print("\nsetting       median wall   speed-up over one process")
    for setting in settings:
        median = statistics.median(walls[setting])
        print(f"{names[setting]:<12} {median:9.1f} s   {one / median:5.2f}x")

    if cores < 2:
        return
    print(f"\n{cores} workers started by hand: own cores (--cpus) vs shared cores")
    by_hand = {True: [], False: []}
    peaks = []
    for round_number in range(args.rounds):
        for pinned in (True, False) if round_number % 2 == 0 else (False, True):
            wall, worker_peaks = run_by_hand(args, cores, pinned)
            by_hand[pinned].append(wall)
            peaks += worker_peaks
            label = "own cores" if pinned else "shared"
            print(f"  round {round_number + 1}: {label:<10} {wall:7.1f} s")
    own, shared = (statistics.median(by_hand[p]) for p in (True, False))
    print(f"median: own cores {own:.1f} s, shared {shared:.1f} s")
    print(f"shared / own cores: {shared / own:.2f}")
    print(
        f"worker peak memory: median {statistics.median(peaks):.2f} GiB, "
        f"largest {max(peaks):.2f} GiB"
    )


if __name__ == "__main__":
    main()
