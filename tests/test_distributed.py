"""Distributed searches: a chief and workers, on loopback addresses only.

The end-to-end tests run the real commands as separate processes. A process
that must die or stop mid-search does it to itself at a named point
(`tests/faults.py`); the tests wait only for states (a chief listening,
workers gone), never for amounts of time (`wait_for` has a generous limit
only so that a broken build fails instead of hanging).
"""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import grpc
import pytest

from tests.conftest import REPO, read_csv
from tuning import search, worker
from tuning.distributed import connection
from tuning.distributed.cluster import WorkersExited, divide_cores
from tuning.distributed.connection import ChiefConnection
from tuning.distributed.launch import LocalWorkers
from tuning.run_dir import RunDir
from tuning.settings import resolve_settings

# The small study every end-to-end test runs, on six whole batches of 32 (a
# ragged last batch is one more training step for XLA to compile).
SMALL = ["--epochs", "2", "--limit", "192", "-q"]
# Seconds of silence after which the tests' chiefs give a trial to another
# worker (a worker calls every 2 s).
TIMEOUT = "5"
GIVE_UP_SECONDS = 300


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(condition, what: str):
    deadline = time.monotonic() + GIVE_UP_SECONDS
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(0.05)


def readme_commands(logdir: Path, imdb_path: Path) -> tuple[list[str], list[str]]:
    """README's commands for several machines, for this machine: loopback,
    a free port, and `logdir` for /shared/logs; the chief's search made
    small (3 trials of `SMALL`, seed 1)."""
    port = free_port()
    text = (REPO / "README.md").read_text()
    block = re.search(r"<!-- several-machines.*?```bash\n(.*?)```", text, re.S)[1]
    lines = [line for line in block.splitlines() if line.startswith("python")]
    chief, worker_command = (
        shlex.split(
            line.replace("/shared/logs", str(logdir)).replace(
                "0.0.0.0:8470", f"127.0.0.1:{port}"
            )
        )
        for line in lines
    )
    assert chief[:3] == ["python", "-m", "tuning.search"]
    assert worker_command[:3] == ["python", "-m", "tuning.worker"]
    # Seeded: every such test trains the same 3 trials, compiled once a session.
    chief += [*SMALL, "--max-trials", "3", "--seed", "1", "--data", str(imdb_path)]
    return [sys.executable, *chief[1:]], [sys.executable, *worker_command[1:]]


# Runs a command with a fault injected (`tests/faults.py`).
FAULTS = "tests.faults"
# A user's shell: no backend chosen (the tests' own process chooses JAX).
USER_ENV = {k: v for k, v in os.environ.items() if not k.startswith("KERAS")}


def with_fault(fault: list[str], command: list[str]) -> list[str]:
    """`command` (`python -m MODULE ...`) with `fault` injected."""
    assert command[1] == "-m"
    return [command[0], "-m", FAULTS, *fault, "--", *command[2:]]


def start(command: list[str], log: Path) -> subprocess.Popen:
    with open(log, "ab") as output:
        return subprocess.Popen(
            command, stdout=output, stderr=subprocess.STDOUT, cwd=REPO, env=USER_ENV
        )


def start_chief(command: list[str], run_dir: Path, processes: list) -> None:
    """Starts a chief, logging to `chief.log` beside its logdir, and waits
    until it listens."""
    processes.append(start(command, run_dir.parent / "chief.log"))
    wait_for((run_dir / ".chief.json").is_file, "the chief")


def start_readme_chief(tmp_path: Path, imdb_path: Path, processes: list):
    """README's chief, with the tests' worker timeout; returns its run
    directory and README's worker command."""
    chief, worker_command = readme_commands(tmp_path, imdb_path)
    start_chief(chief + ["--worker-timeout", TIMEOUT], tmp_path / "random", processes)
    return tmp_path / "random", worker_command


def oracle_state(run_dir: Path) -> dict:
    try:
        return json.loads((run_dir / "oracle.json").read_text())
    except (FileNotFoundError, ValueError):
        return {"ongoing_trials": {}, "end_order": [], "run_times": {}}


def trial_statuses(run_dir: Path) -> dict[str, str]:
    statuses = {}
    for path in run_dir.glob("trial_*/trial.json"):
        trial = json.loads(path.read_text())
        statuses[trial["trial_id"]] = trial["status"]
    return statuses


def history_rows(run_dir: Path, trial_id: str) -> int:
    path = run_dir / f"trial_{trial_id}" / "history_0.csv"
    return len(path.read_text().splitlines()) - 1 if path.is_file() else 0


def assert_every_trial_completed_once(run_dir: Path, count: int) -> None:
    state = oracle_state(run_dir)
    assert sorted(state["end_order"]) == sorted(set(state["end_order"]))
    assert len(state["end_order"]) == count
    assert set(state["run_times"].values()) == {1}  # each trial ended once
    assert list(trial_statuses(run_dir).values()) == ["COMPLETED"] * count
    assert (run_dir / "best_model" / "model.keras").is_file()
    assert not (run_dir / ".chief.json").exists()


def until_stopped(process: subprocess.Popen) -> None:
    """Blocks until `process` stops itself (SIGSTOP) and checks that it did."""
    _, status = os.waitpid(process.pid, os.WUNTRACED)
    assert os.WIFSTOPPED(status), f"it ended instead, with status {status}"


def workers_of(run_dir: Path) -> list[int]:
    """The worker processes that serve `run_dir`, from /proc."""
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            words = cmdline.read_bytes().split(b"\0")
        except OSError:
            continue  # ended meanwhile
        if b"tuning.worker" in words and str(run_dir.resolve()).encode() in words:
            found.append(int(cmdline.parent.name))
    return found


def write_study(run_dir: RunDir, imdb_path: Path) -> None:
    """A grid study's settings, as its chief would write them."""
    args = search.build_parser().parse_args(["--data", str(imdb_path)])
    run_dir.root.mkdir()
    run_dir.write_settings(resolve_settings(vars(args)))


def kill(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGKILL)
        process.wait()


@pytest.fixture
def processes():
    """Processes a test starts; any still running at its end are killed."""
    started: list[subprocess.Popen] = []
    yield started
    for process in started:
        kill(process)


# Three variants in rounds with a margin too narrow to settle a comparison:
# every round, up to 5 runs a trial, is trained (3, 1 and 1 runs).
ROUNDS = ["--variants", "Baseline,Dropout,L2 Regularization", "--repeats", "auto"]
ROUNDS += ["--max-repeats", "5", "--margin", "0.0001"]
ROUNDS += ["--epochs", "1", "--limit", "640"]  # runs differ by seed


@pytest.mark.slow
def test_the_grid_in_rounds_on_two_workers_runs_each_trial_once(
    imdb_path, tmp_path, caplog
):
    """Each trial's runs trained together on the worker that took it."""
    argv = ["--mode", "grid", *SMALL, *ROUNDS, "--workers", "2", "--seed", "1"]
    argv += ["--runs-at-once", "2", "--data", str(imdb_path)]
    result = subprocess.run(
        [sys.executable, "-m", "tuning.search", *argv, "--logdir", str(tmp_path)],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=USER_ENV,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    run_dir = tmp_path / "grid"
    assert_every_trial_completed_once(run_dir, 9)  # three rounds of 3 variants
    runs = read_csv(run_dir / "runs.csv")
    assert sorted((r["label"], r["round"]) for r in runs) == sorted(
        (label, round_)
        for label in ("Baseline", "Dropout", "L2 Regularization")
        for round_ in ("1", "1", "1", "2", "3")
    )
    results = (run_dir / "results.csv").read_text()
    assert all(
        f"{name}," in results for name in ("Baseline", "Dropout", "L2 Regularization")
    )
    assert len(list((run_dir / "tensorboard").iterdir())) == 3 + 1  # and report
    assert (run_dir / "report.md").is_file()
    assert (run_dir / "plots" / "comparison.png").is_file()
    # Both workers took part, each in its own process, and logged there.
    logs = [(run_dir / "workers" / f"worker-{i}.log") for i in (0, 1)]
    assert all("up to 2 runs of a trial at once" in log.read_text() for log in logs)
    # A finished search reloads as finished: nothing running, nothing retrained.
    assert oracle_state(run_dir)["ongoing_trials"] == {}
    loud = [arg for arg in argv if arg != "-q"]  # -q hides the progress line
    assert search.main([*loud, "--logdir", str(tmp_path)]) == 0
    assert "Trials: 9 of 9 done, 0 running, 0 waiting" in caplog.text
    assert oracle_state(run_dir)["ongoing_trials"] == {}
    assert_every_trial_completed_once(run_dir, 9)


@pytest.mark.slow
@pytest.mark.parametrize(
    "mode_flags",
    [
        ["--mode", "random", "--max-trials", "3", "--repeats", "2"],
        ["--mode", "bayesian", "--max-trials", "3"],
        ["--mode", "hyperband"],
    ],
    ids=["random-repeats", "bayesian", "hyperband"],
)
def test_every_mode_runs_on_two_workers(mode_flags, imdb_path, tmp_path, capsys):
    argv = [*SMALL, *mode_flags, "--workers", "2", "--seed", "1"]
    argv += ["--data", str(imdb_path), "--logdir", str(tmp_path)]
    assert search.main(argv) == 0
    # -q: the chief's oracle prints no trial tables, as one process's does not.
    assert "Running Trial" not in capsys.readouterr().out
    run_dir = tmp_path / mode_flags[1]
    statuses = trial_statuses(run_dir)
    assert_every_trial_completed_once(run_dir, len(statuses))
    if "--repeats" in mode_flags:
        assert len(list(run_dir.glob("trial_*/repeat_*.json"))) == 3 * 2


@pytest.mark.slow
def test_readme_commands_survive_workers_that_fall_silent_or_take_a_live_id(
    imdb_path, tmp_path, processes, capsys
):
    """A worker that falls silent mid-trial (stopped, as a killed one is to
    the chief) loses the trial to the next worker, and, let go once its
    chief has ended, ends with one line; a second worker with a live
    worker's id is refused and leaves the live one's trials alone."""
    run_dir, worker_command = start_readme_chief(tmp_path, imdb_path, processes)
    # Stopped after its first epoch of trial 0: the trial is still running.
    late_command = with_fault(["stop-at-epoch", "1", "0"], worker_command)
    late = start(late_command + ["--chief-timeout", "1"], tmp_path / "late.log")
    processes.append(late)
    until_stopped(late)

    survivor = start(worker_command + ["--id", "w1"], tmp_path / "w1.log")
    processes.append(survivor)
    wait_for(
        lambda: "w1" in oracle_state(run_dir)["ongoing_trials"], "w1's first trial"
    )
    assert worker.main([str(run_dir), "--id", "w1"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "worker id w1 is in use by a live worker" in err[0]
    assert processes[0].wait(timeout=GIVE_UP_SECONDS) == 0
    assert survivor.wait(timeout=GIVE_UP_SECONDS) == 0
    assert "Result dropped" not in (tmp_path / "w1.log").read_text()
    assert_every_trial_completed_once(run_dir, 3)
    assert history_rows(run_dir, "0") == 2  # trained whole by the survivor
    assert "trial 0 goes to the next worker" in (tmp_path / "chief.log").read_text()

    late.send_signal(signal.SIGCONT)
    assert late.wait(timeout=GIVE_UP_SECONDS) == 1
    last = (tmp_path / "late.log").read_text().strip().splitlines()[-1]
    assert last.startswith("error: No chief answered at 127.0.0.1:") and "1 s" in last


@pytest.mark.slow
def test_a_restarted_chief_resumes_and_no_trial_trains_twice(
    imdb_path, tmp_path, processes
):
    run_dir = tmp_path / "random"
    chief, worker_command = readme_commands(tmp_path, imdb_path)
    start_chief(chief, run_dir, processes)
    # Stopped after its first epoch of trial 1, which stays running.
    stopping = with_fault(["stop-at-epoch", "1", "1"], worker_command)
    survivor = start(stopping + ["--id", "survivor"], tmp_path / "worker.log")
    processes.append(survivor)
    until_stopped(survivor)
    assert "1" not in oracle_state(run_dir)["end_order"]
    first_record = (run_dir / "trial_0" / "repeat_0.json").stat().st_mtime_ns
    first_chief = (run_dir / ".chief.json").stat().st_ino
    kill(processes[0])

    processes.append(start(chief, tmp_path / "chief-again.log"))
    wait_for(
        lambda: (run_dir / ".chief.json").stat().st_ino != first_chief,
        "the new chief to listen",
    )
    survivor.send_signal(signal.SIGCONT)  # it reports trial 1 to the new chief
    assert processes[-1].wait(timeout=GIVE_UP_SECONDS) == 0
    assert survivor.wait(timeout=GIVE_UP_SECONDS) == 0
    assert_every_trial_completed_once(run_dir, 3)
    assert (run_dir / "trial_0" / "repeat_0.json").stat().st_mtime_ns == first_record
    # Without it the new chief refuses the worker's report as stale.
    assert "Result dropped" not in (tmp_path / "worker.log").read_text()


@pytest.mark.slow
def test_local_workers_die_with_their_chief_and_a_restart_resumes(
    imdb_path, tmp_path, processes
):
    argv = ["--mode", "grid", "--variants", "Baseline,Dropout,MSE Loss"]
    argv += ["--workers", "2", *SMALL, "--data", str(imdb_path)]
    command = [sys.executable, "-m", "tuning.search", *argv, "--logdir", str(tmp_path)]
    run_dir = tmp_path / "grid"
    # The chief is killed once its workers have ended one trial.
    chief = start(with_fault(["kill-after-trials", "1"], command), tmp_path / "c.log")
    processes.append(chief)
    assert chief.wait(timeout=GIVE_UP_SECONDS) == -signal.SIGKILL
    assert len(oracle_state(run_dir)["end_order"]) == 1
    wait_for(lambda: not workers_of(run_dir), "the workers to die with their chief")

    assert search.main([*argv, "--logdir", str(tmp_path)]) == 0  # here, resumed
    assert_every_trial_completed_once(run_dir, 3)


@pytest.mark.slow
def test_a_second_chief_on_the_port_and_callers_without_the_secret_are_refused(
    imdb_path, tmp_path, processes, capsys
):
    port = free_port()
    argv = ["--mode", "grid", *SMALL, "--data", str(imdb_path), "--chief"]
    argv += ["--listen", f"127.0.0.1:{port}"]
    first = [sys.executable, "-m", "tuning.search", *argv, "--logdir", str(tmp_path)]
    processes.append(start(first, tmp_path / "chief.log"))
    run_dir = RunDir(tmp_path / "grid")
    wait_for(run_dir.chief_file.is_file, "the chief")
    assert os.stat(run_dir.chief_file).st_mode & 0o777 == 0o600

    other = tmp_path / "other"
    assert search.main([*argv, "--logdir", str(other)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"127.0.0.1:{port}" in err[0] and "in use" in err[0]
    assert not other.exists()

    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    for metadata in [(), (("imdb-tune-secret", "0" * 64),)]:
        with pytest.raises(grpc.RpcError) as refused:
            channel.unary_unary("/keras_tuner.Oracle/GetSpace")(
                b"", metadata=metadata, timeout=30
            )
        assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED

    # A worker of another run, pointed at this chief.
    stranger = RunDir(tmp_path / "stranger")
    stranger.root.mkdir()
    stranger.study.write_text(run_dir.study.read_text())
    ChiefConnection(f"127.0.0.1:{port}", "1" * 64).write(stranger)
    assert worker.main([str(stranger.root)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "serves another run" in err[0]
    assert sorted(p.name for p in stranger.root.iterdir()) == [
        ".chief.json",
        "study.json",
    ]


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--workers", "0"], "--workers: expected a positive integer"),
        (["--workers", "abc"], "--workers: expected a positive integer"),
        (["--workers", "1000"], "Pass --workers"),
        (["--listen", "127.0.0.1:0"], "--listen applies to distributed"),
        (["--worker-timeout", "9"], "--worker-timeout applies to distributed"),
        (["--chief", "--listen", "nowhere"], "expected HOST:PORT"),
    ],
)
def test_bad_distribution_flags_are_one_line(
    argv, message, imdb_path, tmp_path, capsys
):
    logdir = tmp_path / "logs"
    status = search.main([*argv, "--data", str(imdb_path), "--logdir", str(logdir)])
    assert status == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0]
    assert not logdir.exists()


def test_a_worker_without_a_study_or_chief_is_one_line(imdb_path, tmp_path, capsys):
    run_dir = RunDir(tmp_path / "run")
    run_dir.root.mkdir()
    assert worker.main([str(run_dir.root)]) == 2
    assert "holds no study.json" in capsys.readouterr().err
    run_dir.root.rmdir()
    write_study(run_dir, imdb_path)
    for argv, message in [
        ([], "No chief serves"),
        (["--id", "chief-2"], "without 'chief'"),
        (["--cpus", "100000"], "expected comma-separated cores"),
    ]:
        assert worker.main([str(run_dir.root), *argv]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and message in err[0]
    assert [p.name for p in run_dir.root.iterdir()] == ["study.json"]


@pytest.mark.slow
def test_a_worker_pointed_where_no_chief_answers_is_one_line(
    imdb_path, tmp_path, capsys, monkeypatch
):
    run_dir = RunDir(tmp_path / "run")
    write_study(run_dir, imdb_path)
    ChiefConnection("127.0.0.1:1", "2" * 64).write(run_dir)
    address = f"127.0.0.1:{free_port()}"
    monkeypatch.setattr(connection, "CONTACT_SECONDS", 0.5)  # not the user's 10 s
    assert worker.main([str(run_dir.root), "--chief", address]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"Cannot reach the chief at {address}" in err[0]


@pytest.mark.parametrize(
    "workers, cores, shares",
    [
        (1, [0, 1], [[0, 1]]),
        (2, [0, 1], [[0], [1]]),
        (3, [0, 1], [[0], [1], [0]]),
        (3, [0, 1, 2, 3, 4, 5, 6, 7], [[0, 1, 2], [3, 4, 5], [6, 7]]),
    ],
)
def test_workers_divide_the_cores(workers, cores, shares):
    assert divide_cores(workers, cores) == shares


class _RecordingChief:
    """Stands in for `Chief` where only releases matter."""

    def __init__(self):
        self.released = []

    def release(self, worker: str, why: str) -> None:
        self.released.append((worker, why))

    def finished(self) -> bool:
        return False


@pytest.mark.parametrize("last_status, ends", [(0, "normally"), (3, "in error")])
def test_exited_local_workers_are_released_and_end_the_search(
    last_status, ends, tmp_path
):
    workers = LocalWorkers(RunDir(tmp_path), 2)
    workers.processes = {
        "worker-0": subprocess.Popen([sys.executable, "-c", "pass"]),
        "worker-1": subprocess.Popen(
            [sys.executable, "-c", f"raise SystemExit({last_status})"]
        ),
    }
    for process in workers.processes.values():
        process.wait()
    chief = _RecordingChief()
    if ends == "normally":  # e.g. each stopped after failed trials
        assert workers.watch(chief) is False
    else:
        with pytest.raises(WorkersExited, match="worker-1, with status 3"):
            workers.watch(chief)
    assert chief.released == [
        ("worker-0", "exited with status 0"),
        ("worker-1", f"exited with status {last_status}"),
    ]
