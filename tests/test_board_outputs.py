import numpy as np
from tensorboard.backend.event_processing import event_accumulator
from tensorboard.util import tensor_util

from tests.conftest import analysed_pair
from tuning.board_outputs import write_verdicts
from tuning.run_dir import RunDir


def scalar(directory, tag):
    events = event_accumulator.EventAccumulator(
        str(directory), size_guidance={event_accumulator.TENSORS: 0}
    )
    events.Reload()
    (event,) = events.Tensors(tag)
    return float(tensor_util.make_ndarray(event.tensor_proto))


def test_each_run_of_a_compared_trial_carries_its_verdict_for_hparams(tmp_path):
    run_dir = RunDir(tmp_path)
    analysis = analysed_pair(0.02)  # B better than A, five runs each
    write_verdicts(run_dir, analysis)
    for repeat in range(5):
        directory = run_dir.board_dir("B", repeat, repeats=5)
        assert scalar(directory, "verdict") == 1.0  # better
        assert scalar(directory, "difference") == np.float32(0.02)
    assert not run_dir.board_dir("A", 0, repeats=5).exists()  # the reference


def test_the_report_and_figures_reach_tensorboards_text_and_images(tmp_path):
    from tuning.board_outputs import write_report_to_board
    from tuning.figures import write_figures
    from tuning.reports import write_report

    run_dir = RunDir(tmp_path)
    analysis = analysed_pair(0.02)
    figures = write_figures(run_dir, analysis)
    report = write_report(run_dir, analysis, figures)
    write_report_to_board(run_dir, "an earlier analysis", figures)
    target = write_report_to_board(run_dir, report, figures)  # replaces it
    assert [p.name for p in run_dir.tensorboard.iterdir()] == ["report"]
    (event_file,) = target.iterdir()
    events = event_accumulator.EventAccumulator(
        str(target), size_guidance={event_accumulator.TENSORS: 0}
    )
    events.Reload()
    (text,) = events.Tensors("report")
    assert text.tensor_proto.string_val[0].decode() == run_dir.report.read_text()
    for figure in figures:
        (image,) = events.Tensors(f"figures/{figure.stem}")
        width, height, png = image.tensor_proto.string_val
        assert png == figure.read_bytes() and int(width) > int(height) > 100
