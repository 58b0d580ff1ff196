"""How a search is distributed, decided before anything heavy is loaded.

The command line reads these to check `--workers` and friends at once;
gRPC and Keras Tuner load only once a distributed search starts.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import socket

from tuning.errors import StudyStopped, UsageError
from tuning.run_dir import RunDir

DEFAULT_HOST = "127.0.0.1"
# Seconds a worker may stay silent before its trial goes to another worker
# (workers call every `client.HEARTBEAT_SECONDS`).
DEFAULT_WORKER_TIMEOUT = 60
# Peak resident memory of one worker training on the full data set (the
# data, JAX, Keras and a model: 1.24-1.28 GiB in `benchmarks/bench_workers.py`),
# and of the chief, which loads Keras and the data but trains nothing (0.84
# GiB seen in `ps`); a worker count that needs more than the machine has is
# refused.
WORKER_MEMORY_BYTES = int(1.3 * 2**30)
CHIEF_MEMORY_BYTES = int(1.0 * 2**30)


class WorkersExited(StudyStopped):
    """Every worker started here exited while trials were left."""


@dataclasses.dataclass(frozen=True)
class ClusterOptions:
    """How a search is distributed.

    Attributes:
        workers: worker processes to start on this machine (0: only those
            started elsewhere).
        host: the address the chief listens on.
        port: its port; 0 for any free one.
        worker_timeout: seconds of silence after which a worker's trial goes
            to another worker.
    """

    workers: int
    host: str = DEFAULT_HOST
    port: int = 0
    worker_timeout: float = DEFAULT_WORKER_TIMEOUT


def listen_address(listen: str | None, run_dir: RunDir) -> tuple[str, int]:
    """Where the chief will listen: `listen`, else 127.0.0.1 on the port a
    restarted chief had (where its workers look for it) if it is free, else
    on any free port.

    Raises:
        UsageError: if `listen` names a port in use or an address that is
            not this machine's.
    """
    from tuning.distributed.connection import ChiefConnection, parse_address

    if listen is not None:
        host, port = parse_address(listen)
        _check_can_listen(host, port)
        return host, port
    previous = ChiefConnection.read(run_dir)
    if previous is not None and previous.address.startswith(f"{DEFAULT_HOST}:"):
        host, port = parse_address(previous.address)
        with contextlib.suppress(UsageError):
            _check_can_listen(host, port)
            return host, port
    return DEFAULT_HOST, 0


def _check_can_listen(host: str, port: int) -> None:
    """Refuses an address where nothing of ours could listen, by binding it
    as the chief's server will (sockets of ended connections do not count)."""
    try:
        family, kind, _, _, address = socket.getaddrinfo(
            host.strip("[]"), port, type=socket.SOCK_STREAM
        )[0]
        with socket.socket(family, kind) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind(address)
    except OSError as e:
        raise cannot_listen(host, port, e.strerror) from None


def cannot_listen(host: str, port: int, reason: str) -> UsageError:
    """The error for an address the chief cannot listen on."""
    return UsageError(
        f"Cannot listen on {host}:{port} ({reason}): the port is in use "
        "(another chief?) or the address is not this machine's. Pass "
        "another --listen HOST:PORT, or port 0 for any free one."
    )


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
