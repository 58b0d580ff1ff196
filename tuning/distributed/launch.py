"""Leads a distributed search: the chief, and the workers it starts here.

`python -m tuning.search --workers N` runs the chief in its own process and
starts N workers (`python -m tuning.worker`) beside it, each on its share of
the CPU cores (or one GPU each), writing to `RUN_DIR/workers/<id>.log`.
`--chief` serves workers started elsewhere, over a shared filesystem.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys

import keras_tuner as kt

from tuning.distributed.chief import Chief
from tuning.distributed.cluster import ClusterOptions, WorkersExited, divide_cores
from tuning.run_dir import RunDir

logger = logging.getLogger(__name__)


def lead_search(tuner: kt.Tuner, run_dir: RunDir, options: ClusterOptions) -> None:
    """Serves `tuner`'s oracle until every trial has ended, starting the
    local workers.

    Raises:
        UsageError: if the chief cannot listen where asked.
        WorkersExited: if every local worker exited before the search ended.
    """
    chief = Chief(tuner.oracle, run_dir, options.worker_timeout)
    # Saved before serving, as Keras Tuner's chief does, so that a restarted
    # chief reloads the search (after `Chief` has read what was running).
    tuner.save()
    connection = chief.start(options.host, options.port)
    workers = LocalWorkers(run_dir, options.workers)
    try:
        if options.workers:
            workers.start()
            logger.info(
                "Chief at %s; %d workers started here (logs: %s).",
                connection.address,
                options.workers,
                run_dir.worker_log("*"),
            )
        else:
            logger.info(
                "Chief at %s. Start workers with: python -m tuning.worker %s",
                connection.address,
                run_dir.root,
            )
        chief.serve_until_finished(
            lambda progress: logger.info("%s", progress.line()),
            lambda: workers.watch(chief),
        )
    finally:
        workers.stop()
        chief.stop()
    run_dir.chief_file.unlink(missing_ok=True)


class LocalWorkers:
    """Worker processes on this machine, each bound to its share of the cores
    and, where there are GPUs, to one GPU; they die with this process."""

    def __init__(self, run_dir: RunDir, count: int):
        self.run_dir = run_dir
        self.count = count
        self.processes: dict[str, subprocess.Popen] = {}

    def start(self) -> None:
        cores = divide_cores(self.count, sorted(os.sched_getaffinity(0)))
        gpus = _gpus()
        for i in range(self.count):
            worker_id = f"worker-{i}"
            env = dict(os.environ)
            if gpus:
                env["CUDA_VISIBLE_DEVICES"] = gpus[i % len(gpus)]
            if gpus and self.count > len(gpus):
                # Workers share a GPU: JAX would take 75% of its memory for each.
                env["XLA_PYTHON_CLIENT_PREALLOCATE"] = "false"
            log = self.run_dir.worker_log(worker_id)
            log.parent.mkdir(exist_ok=True)
            command = [
                sys.executable,
                "-m",
                "tuning.worker",
                str(self.run_dir.root.resolve()),
                "--id",
                worker_id,
                "--cpus",
                ",".join(map(str, cores[i])),
                "--exit-with-parent",
            ]
            with open(log, "ab") as output:
                self.processes[worker_id] = subprocess.Popen(
                    command,
                    stdin=subprocess.DEVNULL,
                    stdout=output,
                    stderr=subprocess.STDOUT,
                    env=env,
                )

    def watch(self, chief: Chief) -> bool:
        """Releases the trials of workers that exited, at once; says whether
        any worker started here is left (or none were started).

        A worker ends normally when the chief has no trial left, or when its
        trials keep failing (`tuner.MAX_FAILED_IN_A_ROW`); when the last one
        has ended so, the study writes what it has, as a one-process search
        that stopped does.

        Raises:
            WorkersExited: when the last of them failed while the search
                goes on.
        """
        for worker_id, process in list(self.processes.items()):
            status = process.poll()
            if status is None:
                continue
            del self.processes[worker_id]
            chief.release(worker_id, f"exited with status {status}")
            if not self.processes and status != 0 and not chief.finished():
                raise WorkersExited(
                    f"Every worker exited before the search ended; the last, "
                    f"{worker_id}, with status {status}. See its log, "
                    f"{self.run_dir.worker_log(worker_id)}. Run the same command "
                    "to resume."
                )
        return bool(self.processes) or not self.count

    def stop(self) -> None:
        for process in self.processes.values():
            process.terminate()
        for process in self.processes.values():
            process.wait()


def _gpus() -> list[str]:
    """The GPUs' indices as `CUDA_VISIBLE_DEVICES` counts them, if any."""
    if "CUDA_VISIBLE_DEVICES" in os.environ:
        return [d for d in os.environ["CUDA_VISIBLE_DEVICES"].split(",") if d]
    if shutil.which("nvidia-smi") is None:
        return []
    listing = subprocess.run(
        ["nvidia-smi", "--query-gpu=index", "--format=csv,noheader"],
        capture_output=True,
        text=True,
    )
    return listing.stdout.split() if listing.returncode == 0 else []
