"""How a search is distributed, decided before anything heavy is loaded.

The command line reads these to check `--workers` and friends at once,
without loading gRPC or Keras Tuner.
"""

from __future__ import annotations

import dataclasses
import os

from tuning.errors import UsageError

# Seconds a worker may stay silent before its trial goes to another worker
# (workers call every `client.HEARTBEAT_SECONDS`).
DEFAULT_WORKER_TIMEOUT = 60
# Peak resident memory of one worker training on the full data set (the
# data, JAX, Keras and a model), and of the chief, measured here with
# `benchmarks/bench_workers.py`; a worker count that needs more is refused.
WORKER_MEMORY_BYTES = int(1.3 * 2**30)
CHIEF_MEMORY_BYTES = int(1.0 * 2**30)


class WorkersExited(RuntimeError):
    """Every worker started here exited while trials were left."""


@dataclasses.dataclass(frozen=True)
class ClusterOptions:
    """How a search is distributed.

    Attributes:
        workers: worker processes to start on this machine (0: only those
            started elsewhere).
        listen: `host:port` the chief listens on; `None`: 127.0.0.1 on the
            port a restarted chief had, else any free one.
        worker_timeout: seconds of silence after which a worker's trial goes
            to another worker.
    """

    workers: int
    listen: str | None = None
    worker_timeout: float = DEFAULT_WORKER_TIMEOUT


def check_fits_in_memory(workers: int) -> None:
    """Refuses a worker count whose processes would not fit in memory.

    Raises:
        UsageError: naming the memory needed and the machine's.
    """
    needed = CHIEF_MEMORY_BYTES + workers * WORKER_MEMORY_BYTES
    available = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    if needed > available:
        most = max(0, (available - CHIEF_MEMORY_BYTES) // WORKER_MEMORY_BYTES)
        raise UsageError(
            f"--workers {workers} needs about {needed / 2**30:.1f} GiB (each "
            f"worker {WORKER_MEMORY_BYTES / 2**30:.1f} GiB), and this machine has "
            f"{available / 2**30:.1f} GiB. Pass --workers {most} or fewer."
        )


def divide_cores(workers: int, cores: list[int]) -> list[list[int]]:
    """Each worker's CPU cores: contiguous equal shares, or, with more
    workers than cores, one core each, in turn."""
    if workers >= len(cores):
        return [[cores[i % len(cores)]] for i in range(workers)]
    share, extra = divmod(len(cores), workers)
    shares, start = [], 0
    for i in range(workers):
        end = start + share + (i < extra)
        shares.append(cores[start:end])
        start = end
    return shares
