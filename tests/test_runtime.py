"""What a process loads before it trains: the backend, the packages kept out,
the compile cache, and the collector's pauses."""

import gc
import importlib.metadata
import os
import subprocess
import sys
import weakref

import pytest

from tests.conftest import REPO, one_line_error, run_search
from tuning import runtime


def test_objects_alive_when_a_study_starts_are_spared_its_collections_not_leaked():
    class Node:
        pass

    node = Node()
    node.cycle = node  # only the cyclic collector frees it
    alive = weakref.ref(node)
    with runtime.outliving_objects_frozen():
        del node
        gc.collect()  # Keras Tuner's, before every trial
        assert alive() is not None
    gc.collect()
    assert alive() is None


def test_collections_paused_only_for_the_block_even_when_it_raises():
    with pytest.raises(RuntimeError), runtime.collections_paused():
        assert not gc.isenabled()
        raise RuntimeError
    assert gc.isenabled()


def test_a_backend_that_is_not_installed_is_one_line(tmp_path, capsys, monkeypatch):
    import importlib.util

    find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *args: None if name == "tensorflow" else find_spec(name, *args),
    )
    status, err = run_search(["--backend", "tensorflow"], tmp_path / "logs", capsys)
    one_line_error(status, err, "The tensorflow backend is not installed")
    assert 'pip install -e ".[tensorflow]"' in err
    assert not (tmp_path / "logs").exists()


# A JAX run never needs TensorFlow, nor a grid scikit-learn: it writes
# everything without TensorFlow installed, and where it is installed never
# loads it, nor scikit-learn; it prints no native log line, in a shell with
# no TF_ variable set to hide them; and it keeps what it compiles in the
# machine's cache, from which a later study in another run directory loads it.
@pytest.mark.slow
def test_a_jax_run_loads_no_tensorflow_and_compiles_nothing_twice(imdb_path, tmp_path):
    from tensorboard.backend.event_processing import event_accumulator

    importlib.metadata.version("tensorflow")  # the [dev] extra installs it
    cache = tmp_path / "cache" / runtime.COMPILE_CACHE
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("KERAS", "JAX", "TF_"))
    }
    env["IMDB_TUNE_CACHE"] = str(cache.parent)

    def run(logdir, tensorflow):
        argv = ["--variants", "Baseline,64 Units", "--epochs", "2", "--limit", "64"]
        argv += ["--data", str(imdb_path), "--logdir", str(logdir), "-q"]
        code = (
            "import sys\n"
            + (
                "sys.modules['tensorflow'] = None  # as if not installed\n"
                if tensorflow == "not installed"
                else ""
            )
            + "from tuning import search\n"
            + f"status = search.main({argv!r})\n"
            "assert sys.modules['tensorflow'] is None, 'TensorFlow was loaded'\n"
            "assert sys.modules['sklearn'] is None, 'scikit-learn was loaded'\n"
            "sys.exit(status)\n"
        )
        result = subprocess.run(
            [sys.executable, "-c", code],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
        )
        assert result.returncode == 0, result.stderr[-2000:]
        assert result.stderr == ""
        run_dir = logdir / "grid"
        assert (run_dir / "best_model" / "model.keras").is_file()
        events = event_accumulator.EventAccumulator(
            str(run_dir / "tensorboard" / "Baseline" / "validation"),
            size_guidance={event_accumulator.TENSORS: 0},
        )
        events.Reload()
        assert [e.step for e in events.Tensors("epoch_accuracy")] == [0, 1]
        return {entry.name: entry.stat().st_mtime_ns for entry in cache.iterdir()}

    first = run(tmp_path / "first", "not installed")
    # "64 Units" is the Baseline model: its steps are Baseline's entries.
    for step in ("jit_run_epoch", "jit_split_runs"):
        assert len([name for name in first if name.startswith(step)]) == 1
    # A later study, in another run directory, compiles nothing new.
    assert run(tmp_path / "later", "installed") == first
