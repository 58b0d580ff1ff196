"""`python -m tests.faults FAULT... -- MODULE ARG...`: one of the tool's
commands with a fault injected at a named point.

A test that kills or stops a process says where, and the process does it
to itself there, on any machine at any speed, instead of the test polling
the run directory for a moment to send a signal. The faults:

- `kill-after-run K [TRIAL]`: SIGKILL once run (repeat) K of a trial (of
  trial TRIAL, if given) has finished and written its record (with the
  runs trained with it, `--runs-at-once`).
- `kill-at-epoch N TRIAL`: SIGKILL at the end of epoch N (1-based) of trial
  TRIAL, once its history row is written.
- `stop-at-epoch N TRIAL`: SIGSTOP there instead; the test continues
  (SIGCONT) or kills the process.
- `kill-after-trials N`: a chief: SIGKILL once its workers have ended N
  trials.
- `kill-after-trial-ends N`: a search in one process: SIGKILL once its
  oracle has ended N trials, before the next begins.
- `signal-at-epoch SIGNAL N TRIAL HOW`: send SIGINT or SIGTERM (`INT`,
  `TERM`) as epoch N (1-based) of trial TRIAL begins; `raised` lets its
  `KeyboardInterrupt` go, `swallowed` catches it, as NumPy does while it
  converts a JAX result (`tuning.stopping`).

The fault is installed once the command has chosen its backend
(`tuning.runtime.prepare`), so that the command loads Keras as it would.
"""

from __future__ import annotations

import os
import runpy
import signal
import sys


def _signal_self(number: int) -> None:
    sys.stdout.flush()
    sys.stderr.flush()
    os.kill(os.getpid(), number)


def _after_run(repeat: str, trial_id: str | None = None) -> None:
    from tuning.tuner import StudyTuner

    train_runs = StudyTuner._train_runs

    def train_then_kill(self, trial, repeats, *args, **kwargs):
        histories = train_runs(self, trial, repeats, *args, **kwargs)
        if int(repeat) in repeats and trial_id in (None, trial.trial_id):
            _signal_self(signal.SIGKILL)
        return histories

    StudyTuner._train_runs = train_then_kill


def _at_epoch(number: int):
    def install(epoch: str, trial_id: str) -> None:
        import keras

        from tuning.tuner import StudyTuner

        callbacks = StudyTuner._callbacks

        def callbacks_with_fault(self, trial, repeat):
            found = callbacks(self, trial, repeat)
            if trial.trial_id == trial_id:
                found.append(
                    keras.callbacks.LambdaCallback(
                        on_epoch_end=lambda e, logs: (
                            e + 1 == int(epoch) and _signal_self(number)
                        )
                    )
                )
            return found

        StudyTuner._callbacks = callbacks_with_fault

    return install


def _after_trials(count: str) -> None:
    from tuning.distributed import chief

    end_trial = chief._Servicer.EndTrial
    ended = []

    def end_trial_then_kill(self, request, context):
        response = end_trial(self, request, context)
        ended.append(request.trial.trial_id)
        if len(ended) == int(count):
            _signal_self(signal.SIGKILL)
        return response

    chief._Servicer.EndTrial = end_trial_then_kill


def _after_trial_ends(count: str) -> None:
    import keras_tuner as kt

    end_trial = kt.Oracle.end_trial
    ended = []

    def end_trial_then_kill(self, trial):
        response = end_trial(self, trial)
        ended.append(trial.trial_id)
        if len(ended) == int(count):
            _signal_self(signal.SIGKILL)
        return response

    kt.Oracle.end_trial = end_trial_then_kill


def _signal_at_epoch(name: str, epoch: str, trial_id: str, how: str) -> None:
    import keras

    from tuning.tuner import StudyTuner

    callbacks = StudyTuner._callbacks

    def send(e, logs):
        if e + 1 != int(epoch):
            return
        try:
            _signal_self(getattr(signal, f"SIG{name}"))
        except KeyboardInterrupt:
            if how == "raised":
                raise

    def callbacks_with_fault(self, trial, repeat):
        found = callbacks(self, trial, repeat)
        if trial.trial_id == trial_id:
            found.insert(0, keras.callbacks.LambdaCallback(on_epoch_begin=send))
        return found

    StudyTuner._callbacks = callbacks_with_fault


FAULTS = {
    "kill-after-run": _after_run,
    "kill-at-epoch": _at_epoch(signal.SIGKILL),
    "stop-at-epoch": _at_epoch(signal.SIGSTOP),
    "kill-after-trials": _after_trials,
    "kill-after-trial-ends": _after_trial_ends,
    "signal-at-epoch": _signal_at_epoch,
}


def main(argv: list[str]) -> None:
    split = argv.index("--")
    (fault, *fault_args), (module, *module_args) = argv[:split], argv[split + 1 :]
    from tuning import runtime

    prepare = runtime.prepare

    def prepare_then_install(*args, **kwargs):
        prepare(*args, **kwargs)
        FAULTS[fault](*fault_args)

    runtime.prepare = prepare_then_install
    sys.argv = [module, *module_args]
    runpy.run_module(module, run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main(sys.argv[1:])
