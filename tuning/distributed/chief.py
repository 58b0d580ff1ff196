"""The chief: serves a study's oracle to workers, and outlives their failures.

It runs Keras Tuner's `OracleServicer` (the gRPC face of the oracle) and
adds what Keras Tuner 1.4.8's `start_server` lacks:

- It binds one address, 127.0.0.1 unless asked, without `SO_REUSEPORT`, so
  a port in use is refused instead of shared with another chief.
- Every call must carry the run's secret (`connection`).
- Liveness: every call a worker makes, heartbeats included, marks it alive.
  A worker silent for longer than the timeout loses its trial, which goes
  back to the oracle's retry queue for the next worker that asks, and its
  id is dropped, so the search can still end.
- A worker that asks while the oracle has nothing new is told to wait
  (`IDLE`) rather than to stop as long as another worker's trial is
  running: that trial may yet come back to the queue.
- A restarted chief gives each trial that was running back to the worker
  that ran it, which keeps training it, instead of queueing it for a second
  worker as `Oracle.reload` does; a worker that does not come back within
  the timeout loses it then.
"""

from __future__ import annotations

import dataclasses
import functools
import hmac
import json
import logging
import secrets
import threading
import time
from collections.abc import Callable
from concurrent import futures

import grpc
import keras_tuner as kt
from keras_tuner.src import protos
from keras_tuner.src.distribute import oracle_chief

from tuning.distributed.cluster import cannot_listen
from tuning.distributed.connection import (
    HEARTBEAT_METHOD,
    INSTANCE_KEY,
    SECRET_KEY,
    WORKER_KEY,
    ChiefConnection,
    dial_address,
    metadata_value,
    silence_keras_tuner_print,
)
from tuning.run_dir import RunDir

logger = logging.getLogger(__name__)

TrialStatus = kt.engine.trial.TrialStatus

# Seconds between the chief's checks of liveness and progress.
POLL_SECONDS = 0.5
# A worker that called this recently is live: another process may not take
# its id (a worker calls every 2 s).
LIVE_SECONDS = 10.0
# Threads answering calls: heartbeats must not queue behind a slow oracle
# call (a Bayesian fit), which the oracle lock serializes anyway.
SERVER_THREADS = 8


@dataclasses.dataclass(frozen=True)
class Progress:
    """Where the search stands, for the study-level progress line."""

    done: int
    running: int
    total: int | None  # None where the oracle does not know (Hyperband)
    elapsed: float
    done_here: int  # trials ended since this chief started

    def line(self) -> str:
        text = f"Trials: {self.done}"
        if self.total is not None:
            text += f" of {self.total}"
        text += f" done, {self.running} running"
        if self.total is not None:
            text += f", {self.total - self.done - self.running} waiting"
        text += f" · {_clock(self.elapsed)} elapsed"
        if self.total is not None and self.done_here and self.done < self.total:
            remaining = (self.total - self.done) * self.elapsed / self.done_here
            text += f" · about {_clock(remaining)} left"
        return text


class Chief:
    """Serves `oracle` to the workers of `run_dir`.

    Args:
        oracle: the study's oracle, loaded (a resumed run's state included).
        run_dir: the run directory; its `.chief.json` tells workers where
            the chief is and holds the secret.
        worker_timeout: seconds of silence after which a worker's trial
            goes back to the queue.
    """

    def __init__(self, oracle: kt.Oracle, run_dir: RunDir, worker_timeout: float):
        silence_keras_tuner_print()
        self.oracle = oracle
        self.run_dir = run_dir
        self.worker_timeout = worker_timeout
        self.lock = threading.Lock()
        self.started = time.monotonic()
        self.last_seen: dict[str, float] = {}
        self.instances: dict[str, tuple[str | None, float]] = {}
        self.ended_at_start = _ended(oracle)
        self.servicer = _Servicer(oracle, self.lock)
        self.server: grpc.Server | None = None
        self._adopt_running_trials()

    def start(self, host: str, port: int) -> ChiefConnection:
        """Listens on `host:port` (port 0: a free one) and writes `.chief.json`.

        Raises:
            UsageError: if the address cannot be bound (a port in use).
        """
        # A restarted chief keeps the secret its workers hold.
        previous = ChiefConnection.read(self.run_dir)
        secret = previous.secret if previous else secrets.token_hex(32)
        server = grpc.server(
            futures.ThreadPoolExecutor(max_workers=SERVER_THREADS),
            interceptors=[_Gatekeeper(secret, self._seen)],
            options=[("grpc.so_reuseport", 0)],
        )
        protos.get_service_grpc().add_OracleServicer_to_server(self.servicer, server)
        server.add_generic_rpc_handlers([_heartbeat_handler()])
        try:
            bound = server.add_insecure_port(f"{host}:{port}")
        except RuntimeError:
            bound = 0
        if not bound:  # taken since `cluster.listen_address` checked it
            raise cannot_listen(host, port, "gRPC could not bind it")
        server.start()
        self.server = server
        connection = ChiefConnection(dial_address(host, bound), secret)
        connection.write(self.run_dir)
        return connection

    def stop(self) -> None:
        """Stops serving; workers still asking find no chief."""
        if self.server is not None:
            self.server.stop(grace=1).wait()
            self.server = None

    def finished(self) -> bool:
        """Whether the oracle has stopped and every worker has been told so."""
        with self.lock:
            return self.servicer.stop_triggered and oracle_chief.exit_chief(self.oracle)

    def release_silent_workers(self) -> None:
        """Drops the workers silent for longer than the timeout."""
        now = time.monotonic()
        with self.lock:
            workers = set(self.oracle.tuner_ids) | set(self.oracle.ongoing_trials)
        for worker in sorted(workers):
            silent = now - self.last_seen.get(worker, self.started)
            if silent > self.worker_timeout:
                self.release(worker, f"silent for {silent:.0f} s")

    def release(self, worker: str, why: str) -> None:
        """Drops `worker`; its trial goes back to the queue for the next
        worker that asks, as `Oracle.reload` queues a killed search's."""
        with self.lock:
            self.oracle.tuner_ids.discard(worker)
            self.last_seen.pop(worker, None)
            trial = self.oracle.ongoing_trials.pop(worker, None)
            if trial is None:
                return
            self.oracle._retry_queue.append(trial.trial_id)
            self.oracle.save()
        logger.warning(
            "Worker %s %s: trial %s goes to the next worker.",
            worker,
            why,
            trial.trial_id,
        )

    def progress(self) -> Progress:
        with self.lock:
            ended = _ended(self.oracle)
            return Progress(
                done=ended,
                running=len(self.oracle.ongoing_trials),
                total=self.oracle.max_trials,
                elapsed=time.monotonic() - self.started,
                done_here=ended - self.ended_at_start,
            )

    def serve_until_finished(
        self,
        on_progress: Callable[[Progress], None],
        on_poll: Callable[[], bool] = lambda: True,
    ) -> None:
        """Answers workers until the search has finished.

        Args:
            on_progress: called whenever the counts of trials change.
            on_poll: called every `POLL_SECONDS`, to watch the workers;
                serving ends early when it returns false.
        """
        shown = None
        while True:
            finished = self.finished()
            progress = self.progress()
            if (progress.done, progress.running) != shown:
                shown = (progress.done, progress.running)
                on_progress(progress)
            if finished:
                return
            self.release_silent_workers()
            if not on_poll():
                return
            time.sleep(POLL_SECONDS)

    def _seen(self, worker: str, instance: str | None) -> bool:
        """Notes a call from `worker`; `False` to refuse it, when another
        process calls with that worker id and the one that had it is live
        (called in the last `LIVE_SECONDS`)."""
        now = time.monotonic()
        previous = self.instances.get(worker)
        if previous and previous[0] != instance and now - previous[1] < LIVE_SECONDS:
            return False
        self.instances[worker] = (instance, now)
        self.last_seen[worker] = now
        return True

    def _adopt_running_trials(self) -> None:
        """Gives the trials a killed chief left running back to their workers.

        `Oracle.reload` queued them for whichever worker asks next, while the
        worker that was training one may still be, and would report it on
        reconnecting. Reads the saved assignment, which loading did not change.
        """
        try:
            saved = json.loads(self.run_dir.oracle.read_text())["ongoing_trials"]
        except (FileNotFoundError, KeyError):
            return
        for worker, trial_id in saved.items():
            if trial_id not in self.oracle._retry_queue:
                continue
            self.oracle._retry_queue.remove(trial_id)
            trial = self.oracle.trials[trial_id]
            self.oracle.ongoing_trials[worker] = trial
            self.oracle.tuner_ids.add(worker)
            # As `create_trial` does for a trial it hands out again; the
            # display times the trial from here to its end.
            self.oracle._display.on_trial_begin(trial)
            logger.info(
                "Trial %s stays with worker %s, which was running it.", trial_id, worker
            )


def _serialized(method):
    """A servicer method run under the chief's lock, one call at a time as
    Keras Tuner's single-threaded server runs them."""

    @functools.wraps(method)
    def locked(self, request, context):
        with self.lock:
            return method(self, request, context)

    return locked


class _Servicer(oracle_chief.OracleServicer):
    """Keras Tuner's servicer, serialized, with waiting instead of stopping
    and trials reported only by the worker that holds them."""

    def __init__(self, oracle: kt.Oracle, lock: threading.Lock):
        super().__init__(oracle)
        self.lock = lock

    GetSpace = _serialized(oracle_chief.OracleServicer.GetSpace)
    UpdateSpace = _serialized(oracle_chief.OracleServicer.UpdateSpace)
    GetTrial = _serialized(oracle_chief.OracleServicer.GetTrial)
    GetBestTrials = _serialized(oracle_chief.OracleServicer.GetBestTrials)

    @_serialized
    def CreateTrial(self, request, context):
        trial = self.oracle.create_trial(request.tuner_id)
        if trial.status == TrialStatus.STOPPED:
            if self.oracle.ongoing_trials:
                # Another worker's trial may yet go back to the queue.
                self.oracle.tuner_ids.add(request.tuner_id)
                trial.status = TrialStatus.IDLE
            else:
                self.stop_triggered = True
        return protos.get_service().CreateTrialResponse(trial=trial.to_proto())

    @_serialized
    def UpdateTrial(self, request, context):
        self._check_holder(request.trial_id, context)
        return super().UpdateTrial(request, context)

    @_serialized
    def EndTrial(self, request, context):
        self._check_holder(request.trial.trial_id, context)
        response = super().EndTrial(request, context)
        # Keras Tuner saved the oracle with the trial still running; saved
        # again, a finished search reloads as finished.
        self.oracle.save()
        return response

    def _check_holder(self, trial_id: str, context) -> None:
        """Refuses a report from a worker whose trial went to another."""
        worker = metadata_value(context.invocation_metadata(), WORKER_KEY)
        held = self.oracle.ongoing_trials.get(worker)
        if held is None or held.trial_id != trial_id:
            context.abort(
                grpc.StatusCode.FAILED_PRECONDITION,
                f"trial {trial_id} is no longer worker {worker}'s: it fell "
                "silent for too long and the trial went to another worker",
            )


class _Gatekeeper(grpc.ServerInterceptor):
    """Refuses calls without the run's secret, and a second live process
    with a worker's id; notes who called."""

    def __init__(self, secret: str, seen: Callable[[str, str | None], bool]):
        self.secret = secret.encode()
        self.seen = seen

    def intercept_service(self, continuation, details):
        metadata = details.invocation_metadata
        given = (metadata_value(metadata, SECRET_KEY) or "").encode()
        if not hmac.compare_digest(given, self.secret):
            return _REFUSED
        worker = metadata_value(metadata, WORKER_KEY)
        if worker and not self.seen(worker, metadata_value(metadata, INSTANCE_KEY)):
            return _ID_IN_USE
        return continuation(details)


def _refuse(request, context):
    context.abort(
        grpc.StatusCode.UNAUTHENTICATED,
        "this chief serves another run, or the call carries no secret",
    )


_REFUSED = grpc.unary_unary_rpc_method_handler(_refuse)


def _refuse_id_in_use(request, context):
    worker = metadata_value(context.invocation_metadata(), WORKER_KEY)
    context.abort(
        grpc.StatusCode.ALREADY_EXISTS,
        f"worker id {worker} is in use by a live worker of this run. Pass "
        "another --id, or stop the other worker first.",
    )


_ID_IN_USE = grpc.unary_unary_rpc_method_handler(_refuse_id_in_use)


def _heartbeat_handler() -> grpc.GenericRpcHandler:
    """The liveness call: the gatekeeper has noted the caller already."""
    service, method = HEARTBEAT_METHOD.strip("/").split("/")
    return grpc.method_handlers_generic_handler(
        service,
        {method: grpc.unary_unary_rpc_method_handler(lambda request, context: b"")},
    )


def _ended(oracle: kt.Oracle) -> int:
    return len(set(oracle.end_order))


def _clock(seconds: float) -> str:
    minutes, seconds = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return (
        f"{hours}:{minutes:02d}:{seconds:02d}" if hours else f"{minutes}:{seconds:02d}"
    )
