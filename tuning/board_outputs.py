"""The analysis in TensorBoard: verdicts as HParams metrics, the report and
its figures in the Text and Images dashboards.

The HParams table shows, beside each run's hyperparameters and metrics, the
scalars in its directory; writing the comparison's verdict and difference
there lets a user who lives in TensorBoard sort and filter trials by them.
The report and figures go to one more run, `report`, so that the same user
reads them without opening files. Everything is written with TensorBoard's
own protos and event writer: no TensorFlow.
"""

from __future__ import annotations

import math
import shutil
import struct
import time
from pathlib import Path

import numpy as np

from tuning import verdicts
from tuning.analysis import Analysis
from tuning.run_dir import RunDir


def write_verdicts(run_dir: RunDir, analysis: Analysis) -> None:
    """Writes `verdict` and `difference` scalars into the TensorBoard
    directory of every run of every compared trial."""
    from tensorboard.summary import Writer

    for trial in analysis.compared:
        result = trial.comparison
        code = verdicts.CODES.get(result.verdict, math.nan)
        for run in trial.record.runs:
            directory = run_dir.board_dir(
                trial.label, run.repeat, analysis.settings.repeats
            )
            writer = Writer(str(directory))
            writer.add_scalar("verdict", code, step=0)
            writer.add_scalar("difference", result.difference, step=0)
            writer.close()


def write_report_to_board(run_dir: RunDir, report: str, figures: list[Path]) -> Path:
    """Writes the `report` (`report.md`'s text) and `figures` as images into
    the `report` TensorBoard run, replacing what an earlier analysis wrote
    there."""
    from tensorboard.compat.proto import event_pb2
    from tensorboard.plugins.image import metadata as image_metadata
    from tensorboard.plugins.text.summary_v2 import text_pb
    from tensorboard.summary.writer.event_file_writer import EventFileWriter
    from tensorboard.util import tensor_util

    target = run_dir.board_report
    partial = run_dir.board_report_partial
    shutil.rmtree(partial, ignore_errors=True)
    writer = EventFileWriter(str(partial))
    summary = text_pb("report", report)
    for figure in figures:
        png = figure.read_bytes()
        width, height = _size(png)
        summary.value.add(
            tag=f"figures/{figure.stem}",
            metadata=image_metadata.create_summary_metadata(figure.stem, ""),
            tensor=tensor_util.make_tensor_proto(
                [str(width).encode(), str(height).encode(), png], dtype=np.object_
            ),  # the image plugin's format: width, height, then the image
        )
    writer.add_event(event_pb2.Event(wall_time=time.time(), step=0, summary=summary))
    writer.close()
    shutil.rmtree(target, ignore_errors=True)
    partial.rename(target)
    return target


def _size(png: bytes) -> tuple[int, int]:
    """A PNG's width and height, from its header."""
    return struct.unpack(">II", png[16:24])
