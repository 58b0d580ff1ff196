"""How a worker finds its run's chief and proves it belongs to that run.

The chief writes `.chief.json` into the run directory: the address workers
dial and a random secret. The file is its owner's alone (mode 0600), and a
worker on another machine reads it over the shared filesystem that Keras
Tuner requires anyway. Every call a worker makes carries the secret in its
gRPC metadata, with the worker's id; the chief refuses a call without it,
so neither another local user nor a worker of another run can take or
report trials.
"""

from __future__ import annotations

import collections
import dataclasses
import json
import os
import secrets
import socket

import grpc

from tuning.errors import UsageError
from tuning.files import atomic_file
from tuning.run_dir import RunDir

# gRPC metadata keys (lower case, as gRPC requires).
SECRET_KEY = "imdb-tune-secret"
WORKER_KEY = "imdb-tune-worker"
# Which process carries a worker id: a second live one is refused.
INSTANCE_KEY = "imdb-tune-instance"
_INSTANCE = secrets.token_hex(8)
# The liveness call, served beside Keras Tuner's `Oracle` service. Its
# request and response are empty: the metadata says who is alive.
HEARTBEAT_METHOD = "/imdb_tune.Chief/Heartbeat"
# Channel options: reconnect within seconds after a chief restarts (gRPC's
# default backoff grows to two minutes).
CHANNEL_OPTIONS = [
    ("grpc.initial_reconnect_backoff_ms", 500),
    ("grpc.max_reconnect_backoff_ms", 2000),
]
# How long a starting worker tries to reach the chief before giving up.
CONTACT_SECONDS = 10.0
WILDCARD_HOSTS = ("0.0.0.0", "::", "[::]")


@dataclasses.dataclass(frozen=True)
class ChiefConnection:
    """What a worker needs to reach its run's chief.

    Attributes:
        address: `host:port` that workers dial.
        secret: the run's shared secret.
    """

    address: str
    secret: str

    def write(self, run_dir: RunDir) -> None:
        """Writes `.chief.json`, readable and writable by its owner only."""
        with atomic_file(run_dir.chief_file) as file:
            os.fchmod(file.fileno(), 0o600)
            file.write(json.dumps(dataclasses.asdict(self)).encode())

    @classmethod
    def read(cls, run_dir: RunDir) -> ChiefConnection | None:
        """The connection a chief of `run_dir` wrote, if any.

        Raises:
            UsageError: if the file cannot be read.
        """
        try:
            return cls(**json.loads(run_dir.chief_file.read_text()))
        except FileNotFoundError:
            return None
        except (OSError, ValueError, TypeError) as e:
            raise UsageError(
                f"Cannot read {str(run_dir.chief_file)!r} ({e}). Restart the "
                "run's chief, which writes it anew."
            ) from None

    def open_channel(self, worker_id: str, address: str | None = None) -> grpc.Channel:
        """A channel to the chief whose every call carries the secret and
        `worker_id`; `address` overrides the recorded one."""
        channel = grpc.insecure_channel(address or self.address, CHANNEL_OPTIONS)
        metadata = (
            (SECRET_KEY, self.secret),
            (WORKER_KEY, worker_id),
            (INSTANCE_KEY, _INSTANCE),
        )
        return grpc.intercept_channel(channel, _Credentials(metadata))


def check_contact(channel: grpc.Channel, address: str, run: str) -> None:
    """Makes one call to the chief, so that a worker that cannot take part
    says why before it loads anything.

    Raises:
        UsageError: if the chief cannot be reached in `CONTACT_SECONDS`, or
            refuses the run's secret.
    """
    try:
        heartbeat(channel)(b"", timeout=CONTACT_SECONDS, wait_for_ready=True)
    except grpc.RpcError as e:
        if e.code() == grpc.StatusCode.UNAUTHENTICATED:
            raise UsageError(
                f"The chief at {address} serves another run: it refused the "
                f"secret of {run}. Point --chief at the chief of {run}."
            ) from None
        if e.code() == grpc.StatusCode.ALREADY_EXISTS:
            raise UsageError(f"The chief at {address} refused: {e.details()}") from None
        raise UsageError(
            f"Cannot reach the chief at {address} ({e.code().name.lower()}). "
            f"Start the chief of {run} first, or pass its --chief HOST:PORT."
        ) from None


def heartbeat(channel: grpc.Channel) -> grpc.UnaryUnaryMultiCallable:
    """The liveness call on `channel`: empty request, empty response."""
    return channel.unary_unary(HEARTBEAT_METHOD)


def silence_keras_tuner_print() -> None:
    """Keras Tuner 1.4.8 prints a condition's first value whenever it sends
    a trial's hyperparameters over gRPC (a debug line left in
    `conditions.Parent.to_proto`): a "True" per conditional hyperparameter
    per call, dozens per trial. It is that module's only `print`."""
    from keras_tuner.src.engine import conditions

    conditions.print = lambda *args, **kwargs: None


def dial_address(host: str, port: int) -> str:
    """The address workers dial for a chief bound to `host:port`: its name
    when it listens on every interface."""
    if host in WILDCARD_HOSTS:
        host = socket.getfqdn()
    return f"{host}:{port}"


def parse_address(text: str) -> tuple[str, int]:
    """`host:port` as a pair; the port may be 0 (any free one).

    Raises:
        ValueError: naming what is wrong.
    """
    host, separator, port = text.rpartition(":")
    if not separator or not host or not port.isdigit() or int(port) > 65535:
        raise ValueError(f"expected HOST:PORT, e.g. 127.0.0.1:8470, received {text!r}")
    return host, int(port)


class CallDetails(
    collections.namedtuple(
        "CallDetails",
        (
            "method",
            "timeout",
            "metadata",
            "credentials",
            "wait_for_ready",
            "compression",
        ),
    ),
    grpc.ClientCallDetails,
):
    """gRPC's `ClientCallDetails` with new metadata (gRPC's own is private)."""


class _Credentials(grpc.UnaryUnaryClientInterceptor):
    """Adds the run's secret and the worker's id to every call."""

    def __init__(self, metadata: tuple[tuple[str, str], ...]):
        self.metadata = metadata

    def intercept_unary_unary(self, continuation, details, request):
        details = CallDetails(
            details.method,
            details.timeout,
            (*(details.metadata or ()), *self.metadata),
            details.credentials,
            details.wait_for_ready,
            details.compression,
        )
        return continuation(details, request)


def metadata_value(metadata, key: str) -> str | None:
    """The value of `key` in gRPC invocation metadata, if present."""
    return next((value for name, value in metadata or () if name == key), None)
