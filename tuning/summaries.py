"""The analysis in TensorBoard: each compared run's verdict, as HParams metrics.

The HParams table shows, beside each run's hyperparameters and metrics, the
scalars in its directory; writing the comparison's verdict and difference
there lets a user who lives in TensorBoard sort and filter trials by them.
"""

from __future__ import annotations

import math

from tuning import verdicts
from tuning.analysis import Analysis
from tuning.run_dir import RunDir

# The verdict as a number the HParams table can sort: better 1, equivalent
# 0, worse -1; undecided has none.
VERDICT_CODES = {verdicts.BETTER: 1.0, verdicts.EQUIVALENT: 0.0, verdicts.WORSE: -1.0}


def write_verdicts(run_dir: RunDir, analysis: Analysis) -> None:
    """Writes `verdict` and `difference` scalars into the TensorBoard
    directory of every run of every compared trial."""
    from tensorboard.summary import Writer

    for trial in analysis.compared:
        result = trial.comparison
        code = VERDICT_CODES.get(result.verdict, math.nan)
        for run in trial.record.runs:
            directory = run_dir.board_dir(
                trial.label, run.repeat, analysis.settings.repeats
            )
            writer = Writer(str(directory))
            writer.add_scalar("verdict", code, step=0)
            writer.add_scalar("difference", result.difference, step=0)
            writer.close()
