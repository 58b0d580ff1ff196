import pytest

from hypermodels import VARIANTS
from tuning.records import failure_reason, load_trials
from tuning.run_dir import RunDir


def test_a_failed_trial_records_its_exception_not_jax_notes():
    message = (
        'Traceback (most recent call last):\n  File "x.py", line 3, in f\n'
        "jax.errors.JaxRuntimeError: RESOURCE_EXHAUSTED: Out of memory "
        "allocating 199000000000 bytes.\n"
        "--------------------\n"
        "For simplicity, JAX has removed its internal frames from the traceback "
        "of the following exception. Set JAX_TRACEBACK_FILTERING=off to include "
        "these.\n"
    )
    assert failure_reason(message).startswith(
        "jax.errors.JaxRuntimeError: RESOURCE_EXHAUSTED: Out of memory"
    )


def test_a_run_directory_without_trials_has_no_records(tmp_path):
    assert load_trials(RunDir(tmp_path)) == []


@pytest.mark.slow
def test_trials_are_read_back_in_start_order_with_their_runs(grid_run):
    _, run_dir = grid_run
    records = load_trials(RunDir(run_dir))
    assert [r.label for r in records] == [v.name for v in VARIANTS]
    for record, variant in zip(records, VARIANTS, strict=True):
        assert record.status == "COMPLETED"
        assert "variant" not in record.hyperparameters
        assert record.hyperparameters["units"] == variant.units
        (run,) = record.finished_runs
        assert run.epochs == 1 and run.seed is not None
