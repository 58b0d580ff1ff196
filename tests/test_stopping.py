"""Stop requests: remembered always, raised only where they can stop something."""

import gc
import os
import signal
import sys

import pytest

from tuning import stopping


def test_a_signal_during_a_gc_callback_is_remembered_not_raised_there(monkeypatch):
    """JAX registers a gc callback; a Ctrl-C that lands in it printed
    "Exception ignored in: <function _xla_gc_callback>" and a traceback."""
    seen, ignored = [], []
    monkeypatch.setattr(sys, "unraisablehook", ignored.append)  # "Exception ignored"

    def callback(phase, info):
        if phase == "start" and not seen:
            seen.append(phase)
            os.kill(os.getpid(), signal.SIGINT)  # delivered inside the callback

    with stopping.stop_requests():
        gc.callbacks.append(callback)
        try:
            gc.collect()
        finally:
            gc.callbacks.remove(callback)
        assert stopping.requested() is not None
        with pytest.raises(stopping.StopRequested):  # elsewhere it raises
            os.kill(os.getpid(), signal.SIGINT)
    assert seen and ignored == []
