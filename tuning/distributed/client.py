"""The worker's side: Keras Tuner's `OracleClient`, authenticated, patient and alive."""

from __future__ import annotations

import logging
import threading
import time

import grpc
import keras_tuner as kt
from keras_tuner.src import protos
from keras_tuner.src.distribute import oracle_client

from tuning.distributed.connection import HEARTBEAT_METHOD, ChiefConnection
from tuning.errors import UsageError

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
# How long a starting worker tries to reach the chief before giving up.
CONTACT_SECONDS = 10.0


def check_contact(channel: grpc.Channel, address: str, run: str) -> None:
    """Makes one call to the chief, so that a worker that cannot take part
    says why before it loads anything.

    Raises:
        UsageError: if the chief cannot be reached in `CONTACT_SECONDS`, or
            refuses the run's secret.
    """
    try:
        _heartbeat(channel)(b"", timeout=CONTACT_SECONDS, wait_for_ready=True)
    except grpc.RpcError as e:
        if e.code() == grpc.StatusCode.UNAUTHENTICATED:
            raise UsageError(
                f"The chief at {address} serves another run: it refused the "
                f"secret of {run}. Point --chief at the chief of {run}."
            ) from None
        raise UsageError(
            f"Cannot reach the chief at {address} ({e.code().name.lower()}). "
            f"Start the chief of {run} first, or pass its --chief HOST:PORT."
        ) from None


class ChiefClient(oracle_client.OracleClient):
    """Keras Tuner's `OracleClient`, with three additions.

    - Its calls carry the run's secret and the worker's id.
    - While the oracle has nothing to hand out (`IDLE`), `create_trial`
      waits and asks again, doubling the wait, rather than returning at
      once to a search loop that would ask again at once.
    - A thread calls the chief every `HEARTBEAT_SECONDS`, through long
      trials too, so that the chief can tell a busy worker from a dead one.
      A report the chief refuses because the trial went to another worker
      meanwhile (this worker was silent too long) is dropped with a warning.

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
        super().__init__(oracle)
        channel = connection.open_channel(worker_id, address)
        self.stub = protos.get_service_grpc().OracleStub(channel)
        self._beat = _heartbeat(channel)
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


def _heartbeat(channel: grpc.Channel):
    return channel.unary_unary(HEARTBEAT_METHOD)


def _drop_if_reassigned(error: grpc.RpcError) -> None:
    """Re-raises `error` unless the chief refused a report for a trial that
    went to another worker."""
    if error.code() != grpc.StatusCode.FAILED_PRECONDITION:
        raise error
    logger.warning("Result dropped: %s.", error.details())
