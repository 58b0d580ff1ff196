"""Stop requests: Ctrl-C (SIGINT) and a batch scheduler's SIGTERM.

Python turns SIGINT into a `KeyboardInterrupt` wherever the main thread is,
and during training that is most often inside NumPy's conversion of a JAX
result, which swallows it: a Ctrl-C was lost and the study ran to its end.
So a request is also remembered here, and `tuning.callbacks.StopOnRequest`
stops training at the end of the epoch it arrived in. SIGTERM, which
Python would let kill the process outright, is a request too, so that a
study stops the same way, with its own exit status.
"""

from __future__ import annotations

import contextlib
import gc
import signal
from collections.abc import Iterator

SIGNALS = (signal.SIGINT, signal.SIGTERM)

_requested: int | None = None


class StopRequested(KeyboardInterrupt):
    """A SIGINT or SIGTERM asked the process to stop.

    Args:
        signal_number: which of the two.
    """

    def __init__(self, signal_number: int):
        super().__init__(signal.Signals(signal_number).name)
        self.signal_number = signal_number

    @property
    def exit_status(self) -> int:
        """The shell's status for a process ended by the signal: 128 + its number."""
        return 128 + self.signal_number


def requested() -> StopRequested | None:
    """The stop asked for since `stop_requests` began, if any."""
    return None if _requested is None else StopRequested(_requested)


def _request(signal_number: int, frame) -> None:
    global _requested
    _requested = signal_number
    if not _in_gc_callback(frame):
        raise StopRequested(signal_number)


def _in_gc_callback(frame) -> bool:
    """Whether the signal arrived inside a garbage collector's callback
    (JAX's `_xla_gc_callback`), where an exception cannot stop anything:
    Python prints it as "Exception ignored" with a traceback and goes on.
    The request is remembered all the same."""
    callbacks = {getattr(c, "__code__", None) for c in gc.callbacks}
    while frame is not None:
        if frame.f_code in callbacks:
            return True
        frame = frame.f_back
    return False


@contextlib.contextmanager
def stop_requests() -> Iterator[None]:
    """Turns SIGINT and SIGTERM into `StopRequested` for the block, and
    remembers them; the previous handlers come back after it."""
    global _requested
    _requested = None
    previous = {number: signal.signal(number, _request) for number in SIGNALS}
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
