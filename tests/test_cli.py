"""What every command shares: one-line errors, exit statuses, a light start."""

import subprocess
import sys

import pytest


def test_errors_exit_2_without_traceback_from_the_shell(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "tuning.search", "--epochs", "0"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "logs").exists()


def test_a_command_ends_with_its_status_output_and_atexit_handlers():
    """`exit_process` spares only the collector's sweep at shutdown."""
    code = (
        "import atexit, gc, sys\n"
        "from tuning import cli\n"
        "atexit.register(lambda: print('handler', gc.get_freeze_count() > 0))\n"
        "sys.stdout.write('buffered, ')\n"
        "cli.exit_process(3)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True
    )
    assert result.returncode == 3
    assert result.stdout == "buffered, handler True\n"


def test_help_does_not_import_keras():
    code = "import sys, tuning.search; print('keras' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True
    )
    assert result.stdout.strip() == "False"


@pytest.mark.slow
def test_plot_loads_no_training_framework(grid_run, tmp_path):
    """What import-linter cannot prove (its contract allows indirect imports,
    which the modes' lazy oracle imports would otherwise break), measured."""
    _, run_dir = grid_run
    code = (
        "import sys\n"
        "from tuning import plot\n"
        f"assert plot.main([{str(run_dir)!r}]) == 0\n"
        "frameworks = ('keras', 'keras_tuner', 'tensorflow', 'jax', 'torch')\n"
        "print(sorted(name for name in frameworks if sys.modules.get(name)))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.splitlines()[-1] == "[]"
    assert "comparison.png" in result.stdout


@pytest.mark.parametrize("resumes", [True, False])
def test_an_interrupted_command_says_run_it_again_only_where_that_resumes(
    resumes, capsys
):
    from tuning import cli

    def interrupted(args):
        raise KeyboardInterrupt

    parser = cli.ArgumentParser(prog="test")
    cli.add_common_flags(parser)
    assert cli.run_command(interrupted, parser, [], resumes=resumes) == 130
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line == "Interrupted." + (
        " Run the same command again to resume." if resumes else ""
    )


def test_a_path_the_system_refuses_is_one_line_not_a_traceback(tmp_path, capsys):
    from tuning import cli

    def write_under_a_file(args):
        (tmp_path / "file").write_text("")
        (tmp_path / "file" / "report.md").write_text("")

    parser = cli.ArgumentParser(prog="test")
    cli.add_common_flags(parser)
    assert cli.run_command(write_under_a_file, parser, []) == 1
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert (
        line.startswith("error: ") and "report.md" in line and "Not a directory" in line
    )
