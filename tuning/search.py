"""`python -m tuning.search`: run a hyperparameter study of the IMDB classifier.

Keras and TensorFlow are imported only once the arguments are valid, so that
`--help` and input errors answer at once.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
from pathlib import Path

from hypermodels.variants import VARIANTS, VARIANTS_BY_NAME
from tuning import cli, runtime
from tuning.distributed.cluster import (
    DEFAULT_WORKER_TIMEOUT,
    ClusterOptions,
    check_fits_in_memory,
    listen_address,
)
from tuning.errors import UsageError
from tuning.modes import MODES
from tuning.objective import OBJECTIVES
from tuning.rounds import FIRST_RUNS
from tuning.run_dir import RunDir
from tuning.settings import (
    BACKENDS,
    CPU_RUNS_AT_ONCE,
    DEFAULT_BACKEND,
    DEFAULT_MARGINS,
    DEFAULT_MAX_REPEATS,
    DEFAULT_REFERENCE,
    DEFAULTS_WHEN_USED,
    NUM_WORDS,
    StudySettings,
    resolve_settings,
)

# The largest counts accepted: past them a run would take days or more.
MOST_EPOCHS = 10_000
MOST_REPEATS = 100
MOST_TRIALS = 10_000
# NumPy's RandomState, behind Keras Tuner's oracles, takes seeds below 2**32.
MOST_SEED = 2**32 - 1
# Past these, a worker count or timeout is a typo.
MOST_WORKERS = 1024
MOST_WORKER_TIMEOUT = 86_400
DEFAULTS = StudySettings()


def variant_list(text: str) -> tuple[str, ...]:
    """An argparse `type=`: comma-separated variant names, e.g. `Baseline,MSE Loss`."""
    names = [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in names if name not in VARIANTS_BY_NAME]
    if unknown or not names:
        raise argparse.ArgumentTypeError(
            f"unknown variant(s) {unknown or [text]}. Expected names from: "
            f"{[v.name for v in VARIANTS]}"
        )
    if len(set(names)) != len(names):
        raise argparse.ArgumentTypeError(f"variant named twice in {text!r}")
    return tuple(names)


def repeats(text: str) -> int | str:
    """An argparse `type=`: runs per trial, or `auto`."""
    if text == "auto":
        return text
    return cli.positive_int_up_to(MOST_REPEATS)(text)


def max_repeats(text: str) -> int:
    """An argparse `type=`: an integer from `FIRST_RUNS` to `MOST_REPEATS`."""
    value = cli.positive_int_up_to(MOST_REPEATS)(text)
    if value < FIRST_RUNS:
        raise argparse.ArgumentTypeError(
            f"expected at least {FIRST_RUNS}, the fewest runs --repeats auto plans, "
            f"received {text!r}"
        )
    return value


# argparse `type=`s for the two real-valued flags.
margin = cli.float_between(0, math.inf, "a positive number")
fraction = cli.float_between(0, 1, "a fraction between 0 and 1")


def space_file(text: str) -> dict:
    """An argparse `type=`: a JSON search-space file, validated, whose
    largest model can train in this machine's memory."""
    from hypermodels.space import (
        SpaceError,
        largest_model_bytes,
        largest_value,
        load_space,
    )

    try:
        space = load_space(text)
    except SpaceError as e:
        raise argparse.ArgumentTypeError(str(e)) from None
    needed = largest_model_bytes(space, NUM_WORDS)
    available = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    if needed > available:
        largest = ", ".join(
            f"{name} up to {largest_value(space[name]):,}"
            for name in ("hidden_layers", "units", "embedding_dim")
        )
        raise argparse.ArgumentTypeError(
            f"the space allows models too large for this machine: the largest "
            f"({largest}) needs about {needed / 2**30:,.1f} GiB to train, and "
            f"this machine has {available / 2**30:,.1f} GiB. Lower those maxima."
        )
    return space


def run_name(text: str) -> str:
    """An argparse `type=`: a directory name, not a path."""
    if not text or text in (".", "..") or os.sep in text or "/" in text:
        raise argparse.ArgumentTypeError(
            f"expected a plain directory name, received {text!r}"
        )
    return text


def address(text: str) -> str:
    """An argparse `type=`: `HOST:PORT`."""
    from tuning.distributed.connection import parse_address

    try:
        parse_address(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None
    return text


def build_parser() -> argparse.ArgumentParser:
    parser = cli.ArgumentParser(
        prog="python -m tuning.search",
        description="Hyperparameter search for the IMDB review sentiment classifier.",
    )
    parser.add_argument(
        "--mode",
        choices=list(MODES),
        default=DEFAULTS.mode,
        help="; ".join(f"{m.name}: {m.summary}" for m in MODES.values()),
    )
    parser.add_argument(
        "--epochs",
        type=cli.positive_int_up_to(MOST_EPOCHS),
        help="epochs per trial (Hyperband: the most any trial gets; default "
        f"{DEFAULTS.epochs})",
    )
    parser.add_argument(
        "--max-trials",
        type=cli.positive_int_up_to(MOST_TRIALS),
        help="trials of a random or Bayesian search (default "
        f"{DEFAULTS_WHEN_USED['max_trials']()})",
    )
    parser.add_argument(
        "--seed",
        type=cli.positive_int_up_to(MOST_SEED),
        help="the study's seed: the search's proposals and every training run's "
        "seed derive from it, so the same seed reproduces the study (default: a "
        "random one, recorded in study.json)",
    )
    parser.add_argument(
        "--objective",
        choices=OBJECTIVES,
        help="metric to optimize, and every output's best epoch, ranking and "
        f"comparison; losses are minimized (default {DEFAULTS.objective})",
    )
    parser.add_argument(
        "--early-stopping",
        type=cli.positive_int_up_to(MOST_EPOCHS),
        metavar="PATIENCE",
        help="stop a trial after PATIENCE epochs without a better objective, "
        "keeping its best weights",
    )
    parser.add_argument(
        "--repeats",
        "--executions-per-trial",
        type=repeats,
        metavar="K",
        help="train each trial K times, each from its own seed; the objective is "
        "their mean, and reports give intervals and verdicts; auto: in rounds, "
        "more runs only where a verdict is still open (grid; default "
        f"{DEFAULTS.repeats})",
    )
    parser.add_argument(
        "--max-repeats",
        type=max_repeats,
        metavar="N",
        help="with --repeats auto, the most runs a trial gets (default "
        f"{DEFAULT_MAX_REPEATS})",
    )
    parser.add_argument(
        "--margin",
        type=margin,
        metavar="D",
        help="the smallest difference in the objective that matters: inside "
        "plus or minus D a trial is equivalent to the reference (default: "
        + ", ".join(f"{v} for {k}" for k, v in DEFAULT_MARGINS.items())
        + ")",
    )
    parser.add_argument(
        "--reference",
        metavar="NAME",
        help=f"grid variant every other is compared with (default {DEFAULT_REFERENCE}"
        "; wider searches compare with their best trial)",
    )
    parser.add_argument(
        "--space",
        type=space_file,
        metavar="FILE",
        help="JSON search space for random, Bayesian and Hyperband searches; "
        "its entries replace the default ones",
    )
    parser.add_argument(
        "--data",
        metavar="PATH",
        help="local Keras-format imdb.npz (default: $IMDB_DATA, else download)",
    )
    parser.add_argument(
        "--logdir", default="logs", type=Path, help="root of all runs (logs/)"
    )
    parser.add_argument(
        "--run-name", type=run_name, help="run directory under --logdir (the mode)"
    )
    parser.add_argument(
        "--variants",
        type=variant_list,
        metavar="NAME,...",
        help="grid variants to run, in order (default: all nine)",
    )
    parser.add_argument(
        "--validation-split",
        type=fraction,
        metavar="F",
        help="validate on a seeded, label-balanced fraction F of the training "
        "reviews and test once per trial (default: validate on the test reviews)",
    )
    parser.add_argument(
        "--limit",
        type=cli.positive_int,
        metavar="N",
        help="use only the first N training and N test reviews (quick checks)",
    )
    parser.add_argument(
        "--backend",
        choices=BACKENDS,
        help=f"Keras backend (default: $KERAS_BACKEND, else {DEFAULT_BACKEND})",
    )
    parser.add_argument(
        "--runs-at-once",
        type=cli.positive_int_up_to(MOST_REPEATS),
        metavar="N",
        help="train up to N runs of a trial together, as one program (JAX): "
        "fewer bound memory, more use a GPU better (default: all of a trial's "
        "on a GPU, "
        f"{CPU_RUNS_AT_ONCE} on a CPU)",
    )
    parser.add_argument(
        "--overwrite",
        action="store_true",
        help="start the run afresh instead of resuming it",
    )
    parser.add_argument(
        "--workers",
        type=cli.positive_int_up_to(MOST_WORKERS),
        metavar="N",
        help="train on N worker processes on this machine, which share its "
        "cores (or GPUs, one each); this process is their chief",
    )
    parser.add_argument(
        "--chief",
        action="store_true",
        help="serve the search to workers started elsewhere (python -m "
        "tuning.worker RUN_DIR), besides any --workers",
    )
    parser.add_argument(
        "--listen",
        type=address,
        metavar="HOST:PORT",
        help="where the chief listens (default 127.0.0.1, any free port; "
        "0.0.0.0:PORT for workers on other machines)",
    )
    parser.add_argument(
        "--worker-timeout",
        type=cli.positive_int_up_to(MOST_WORKER_TIMEOUT),
        metavar="SECONDS",
        help="a worker silent this long loses its trial to another "
        f"(default {DEFAULT_WORKER_TIMEOUT})",
    )
    cli.add_common_flags(parser)
    return parser


def search(args: argparse.Namespace) -> int:
    """Runs (or resumes) the study that `args` describe and prints its results."""
    run_dir = RunDir(args.logdir / (args.run_name or args.mode))
    cluster = cluster_options(args, run_dir)
    with run_dir.owned():
        saved = None if args.overwrite else run_dir.resumed_settings()
        settings = resolve_settings(vars(args), saved, fresh_seed=_fresh_seed())
        run_dir.check_resumable(saved, settings)
        if saved:
            from tuning.records import load_trials

            load_trials(run_dir, saved)  # every trial's files checked before a write
        with runtime.collections_paused():
            from tuning.data import check_data_file

            check_data_file(settings.data_path)
            runtime.prepare(settings.backend, settings.mode)
            from tuning.study import run_study
            from tuning.tables import format_table

        analysis = run_study(
            run_dir, settings, args.overwrite, cli.verbosity(args), cluster
        )
    print(format_table(analysis))
    print(f"\nResults, histories and plots: {run_dir.root}")
    if analysis.best_trial is None:
        print(
            "error: no trial completed, so there is no best model. The reasons "
            f"are in the message column of {run_dir.results_csv}.",
            file=sys.stderr,
        )
        return cli.EXIT_FAILED
    return 0


def _fresh_seed() -> int:
    """A seed for a study given none; `study.json` records it."""
    import random

    return random.randint(1, 2**31 - 1)


def cluster_options(args: argparse.Namespace, run_dir: RunDir) -> ClusterOptions | None:
    """How to distribute the search; `None` to train in this process.

    Raises:
        UsageError: for --listen or --worker-timeout without workers,
            more workers than fit in memory, or an address in use.
    """
    if not (args.workers or args.chief):
        given = [f for f in ("listen", "worker_timeout") if getattr(args, f)]
        if given:
            flag = "--" + given[0].replace("_", "-")
            raise UsageError(
                f"{flag} applies to distributed searches only. Add --workers N "
                "or --chief, or drop it."
            )
        return None
    check_fits_in_memory(args.workers or 0)
    host, port = listen_address(args.listen, run_dir)
    return ClusterOptions(
        workers=args.workers or 0,
        host=host,
        port=port,
        worker_timeout=args.worker_timeout or DEFAULT_WORKER_TIMEOUT,
    )


def main(argv: list[str] | None = None) -> int:
    return cli.run_command(search, build_parser(), argv, resumes=True)


if __name__ == "__main__":
    cli.exit_process(main())
