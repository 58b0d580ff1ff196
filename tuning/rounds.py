"""The schedule of a study's runs: how many each trial and the reference
get, at each look at the data, and the level each comparison is tested at.

With `--repeats K` there is one look: every trial, the reference among
them, gets K runs. With `--repeats auto` (`max_repeats` set) the study runs
in rounds: every trial starts with `FIRST_RUNS`, and after each round only
the trials whose comparison is still undecided get more, up to a fixed
schedule of looks. The reference, which is in every comparison, gets about
sqrt(m) times a trial's runs (m comparisons): the allocation that makes
many-to-one comparisons most precise for a given number of runs (Dunnett
1955). The schedule is fixed before any data are seen, so splitting the 5%
over its looks as well as its comparisons (Bonferroni) bounds each kind of
false verdict however the rounds go (docs/statistics.md).
"""

from __future__ import annotations

import dataclasses
import math

FAMILY_ALPHA = 0.05
FIRST_RUNS = 3
# Each look has about this many times the runs of the one before.
GROWTH = 1.5


@dataclasses.dataclass(frozen=True)
class Schedule:
    """The runs per trial and per reference at each look.

    Attributes:
        trial_runs: a trial's runs at look 1, 2, ...
        reference_runs: the reference's runs at the same looks.
        comparisons: m, the comparisons with the reference.
    """

    trial_runs: tuple[int, ...]
    reference_runs: tuple[int, ...]
    comparisons: int

    @classmethod
    def fixed(cls, repeats: int, comparisons: int) -> Schedule:
        """One look: `repeats` runs for every trial and the reference."""
        return cls((repeats,), (repeats,), comparisons)

    @classmethod
    def adaptive(cls, max_repeats: int, comparisons: int) -> Schedule:
        """Looks at `FIRST_RUNS`, then about `GROWTH` times more each time,
        up to `max_repeats` runs per trial."""
        runs = [FIRST_RUNS]
        while runs[-1] < max_repeats:
            runs.append(
                min(max(math.ceil(runs[-1] * GROWTH), runs[-1] + 1), max_repeats)
            )
        share = math.sqrt(max(comparisons, 1))
        return cls(tuple(runs), tuple(math.ceil(share * n) for n in runs), comparisons)

    @property
    def looks(self) -> int:
        return len(self.trial_runs)

    @property
    def alpha(self) -> float:
        """The level of each comparison at each look."""
        return FAMILY_ALPHA / (max(self.comparisons, 1) * self.looks)

    @property
    def reference_share(self) -> float:
        return self.reference_runs[-1] / self.trial_runs[-1]

    def last_look(self, runs: int) -> int | None:
        """The last 1-based look a trial with `runs` finished runs reached."""
        reached = [look for look, n in enumerate(self.trial_runs, 1) if n <= runs]
        return reached[-1] if reached else None

    def round_of(self, repeat: int, reference: bool = False) -> int:
        """The 1-based round in which run `repeat` (0-based) trains."""
        runs = self._runs(reference)
        return next((i + 1 for i, n in enumerate(runs) if repeat < n), len(runs))

    def runs_of_round(self, round_: int, reference: bool = False) -> range:
        """The runs (0-based) that round `round_` adds to a trial."""
        runs = self._runs(reference)
        return range(runs[round_ - 2] if round_ > 1 else 0, runs[round_ - 1])

    def _runs(self, reference: bool) -> tuple[int, ...]:
        return self.reference_runs if reference else self.trial_runs


# The hyperparameter that carries the round of a trial of `--repeats auto`
# (each round of a variant is a trial of its own, so workers share it).
ROUND_KEY = "round"
