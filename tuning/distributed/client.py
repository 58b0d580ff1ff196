"""The worker's side: Keras Tuner's `OracleClient`, authenticated, patient and alive."""

from __future__ import annotations

import logging
import threading
import time

import grpc
import keras_tuner as kt
from keras_tuner.src import protos
from keras_tuner.src.distribute import oracle_client

from tuning.distributed.connection import (
    ChiefConnection,
    heartbeat,
    silence_keras_tuner_print,
)

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
      answers (`_ResendAfterChiefLoss`), so a restarted chief gets it.

    Args:
        oracle: the local oracle (its objective and settings are read here).
        connection: the run's chief address and secret.
        worker_id: this worker's `KERASTUNER_TUNER_ID`.
        address: the address to dial, if not the recorded one.
    """

    def __init__(
        self,
        oracle: kt.Oracle,
        connection: ChiefConnection,
        worker_id: str,
        address: str | None = None,
    ):
        silence_keras_tuner_print()
        super().__init__(oracle)
        channel = grpc.intercept_channel(
            connection.open_channel(worker_id, address), _ResendAfterChiefLoss()
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
    """Sends a call again when the chief was lost while it was in flight.

    Keras Tuner's calls wait for a chief that is not there yet
    (`wait_for_ready`), but one cut short by the chief's death fails at
    once, and would fail the worker's trial. Each call is safe to repeat:
    asking for a trial again returns the one the worker holds, and a report
    that did arrive is refused the second time and dropped.
    """

    def intercept_unary_unary(self, continuation, details, request):
        while True:
            outcome = continuation(details, request)
            if outcome.code() != grpc.StatusCode.UNAVAILABLE:
                return outcome
            if not details.wait_for_ready:  # heartbeats: the next one will do
                return outcome
            time.sleep(RESEND_SECONDS)


def _drop_if_reassigned(error: grpc.RpcError) -> None:
    """Re-raises `error` unless the chief refused a report for a trial that
    went to another worker."""
    if error.code() != grpc.StatusCode.FAILED_PRECONDITION:
        raise error
    logger.warning("Result dropped: %s.", error.details())
