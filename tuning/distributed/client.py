"""The worker's side: Keras Tuner's `OracleClient`, authenticated, patient and alive."""

from __future__ import annotations

import logging
import threading
import time

import grpc
import keras_tuner as kt
from keras_tuner.src import protos
from keras_tuner.src.distribute import oracle_client

from tuning.distributed.cluster import DEFAULT_WORKER_TIMEOUT
from tuning.distributed.connection import (
    CallDetails,
    ChiefConnection,
    heartbeat,
    silence_keras_tuner_print,
)
from tuning.errors import StudyStopped

logger = logging.getLogger(__name__)

TrialStatus = kt.engine.trial.TrialStatus

# A worker tells the chief it is alive this often (the chief's timeout is
# `DEFAULT_WORKER_TIMEOUT`, far longer).
HEARTBEAT_SECONDS = 2.0
# Waits between asking again when the oracle has no trial to hand out yet
# (Hyperband between brackets, the last trials of a search): doubling, up to
# the longest. Keras Tuner asks again at once, keeping a core busy.
FIRST_WAIT_SECONDS = 0.1
LONGEST_WAIT_SECONDS = 2.0
# Wait before sending again a call that the chief's death cut short.
RESEND_SECONDS = 1.0
# A chief's answers that end a worker, and those that mean no chief answered.
_REFUSED = (grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.ALREADY_EXISTS)
_NO_ANSWER = (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)


class ChiefClient(oracle_client.OracleClient):
    """Keras Tuner's `OracleClient`, with four additions.

    - Its calls carry the run's secret and the worker's id.
    - While the oracle has nothing to hand out (`IDLE`), `create_trial`
      waits and asks again, doubling the wait, rather than returning at
      once to a search loop that would ask again at once.
    - A thread calls the chief every `HEARTBEAT_SECONDS`, through long
      trials too, so that the chief can tell a busy worker from a dead one.
      A report the chief refuses because the trial went to another worker
      meanwhile (this worker was silent too long) is dropped with a warning.
    - A call cut short by the chief's death is sent again once a chief
      answers (`_ResendAfterChiefLoss`), so a restarted chief gets it; when
      no chief answers for `chief_timeout` seconds (its search ended while
      this worker was stopped, say), or the chief refuses this worker, the
      worker stops with one line (`StudyStopped`).

    Args:
        oracle: the local oracle (its objective and settings are read here).
        connection: the run's chief address and secret.
        worker_id: this worker's `KERASTUNER_TUNER_ID`.
        address: the address to dial, if not the recorded one.
        chief_timeout: seconds to wait for a chief that does not answer.
            Defaults to `DEFAULT_WORKER_TIMEOUT`, what a chief waits for a
            silent worker.
    """

    def __init__(
        self,
        oracle: kt.Oracle,
        connection: ChiefConnection,
        worker_id: str,
        address: str | None = None,
        chief_timeout: float = DEFAULT_WORKER_TIMEOUT,
    ):
        silence_keras_tuner_print()
        super().__init__(oracle)
        address = address or connection.address
        channel = grpc.intercept_channel(
            connection.open_channel(worker_id, address),
            _ResendAfterChiefLoss(address, chief_timeout),
        )
        self.stub = protos.get_service_grpc().OracleStub(channel)
        self._beat = heartbeat(channel)
        threading.Thread(target=self._keep_alive, daemon=True).start()

    def create_trial(self, tuner_id: str):
        wait = FIRST_WAIT_SECONDS
        while True:
            trial = super().create_trial(tuner_id)
            if trial.status != TrialStatus.IDLE:
                return trial
            time.sleep(wait)
            wait = min(2 * wait, LONGEST_WAIT_SECONDS)

    def update_trial(self, trial_id, metrics, step=0):
        try:
            return super().update_trial(trial_id, metrics, step=step)
        except grpc.RpcError as e:
            _drop_if_reassigned(e)
            return kt.engine.trial.Trial(self.get_space(), trial_id, "RUNNING")

    def end_trial(self, trial) -> None:
        try:
            super().end_trial(trial)
        except grpc.RpcError as e:
            _drop_if_reassigned(e)

    def _keep_alive(self) -> None:
        while True:
            try:
                self._beat(b"", timeout=HEARTBEAT_SECONDS)
            except grpc.RpcError:
                pass  # the chief may be restarting; the trial goes on
            time.sleep(HEARTBEAT_SECONDS)


class _ResendAfterChiefLoss(grpc.UnaryUnaryClientInterceptor):
    """Sends a call again when the chief was lost while it was in flight,
    for up to `patience` seconds.

    Keras Tuner's calls wait for a chief that is not there yet
    (`wait_for_ready`), forever, and one cut short by the chief's death
    fails at once, and would fail the worker's trial. Each call is safe to
    repeat: asking for a trial again returns the one the worker holds, and a
    report that did arrive is refused the second time and dropped.

    Args:
        address: the chief's, for the message.
        patience: seconds without an answer after which the chief is gone.
    """

    def __init__(self, address: str, patience: float):
        self.address = address
        self.patience = patience

    def intercept_unary_unary(self, continuation, details, request):
        if not details.wait_for_ready:  # heartbeats: the next one will do
            return continuation(details, request)
        deadline = time.monotonic() + self.patience
        while True:
            left = max(deadline - time.monotonic(), 0.0)
            outcome = continuation(_with_timeout(details, left), request)
            code = outcome.code()
            if code in _REFUSED:
                raise StudyStopped(
                    f"The chief at {self.address} refused: {outcome.details()}"
                )
            if code not in _NO_ANSWER:
                return outcome
            if time.monotonic() >= deadline:
                raise StudyStopped(
                    f"No chief answered at {self.address} for {self.patience:.0f} s: "
                    "its search has ended, or it is down. To go on, run the "
                    "chief's command again, then this worker's."
                )
            time.sleep(RESEND_SECONDS)


def _with_timeout(details, seconds: float) -> CallDetails:
    return CallDetails(
        details.method,
        seconds,
        details.metadata,
        details.credentials,
        details.wait_for_ready,
        details.compression,
    )


def _drop_if_reassigned(error: grpc.RpcError) -> None:
    """Re-raises `error` unless the chief refused a report for a trial that
    went to another worker."""
    if error.code() != grpc.StatusCode.FAILED_PRECONDITION:
        raise error
    logger.warning("Result dropped: %s.", error.details())
