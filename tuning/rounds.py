"""The schedule of a study's runs: how many each trial and the reference
get, at each look at the data, and the level each comparison is tested at.

With `--repeats K` there is one look: every trial, the reference among
them, gets K runs. With `--repeats auto` (`max_repeats` set) the study runs
in rounds: every trial starts with the first look's runs (`first_look`),
and after each round only the trials whose comparison is still undecided
get more, up to a fixed schedule of looks. Where run k of every trial
shares its seed (common seeds), a comparison pairs each run of a trial
with the reference's run of its seed, so the reference gets a trial's runs
at each look; where each run has a seed of its own, the reference, which
is in every comparison, gets about sqrt(m) times a trial's runs (m
comparisons): the allocation that makes many-to-one comparisons most
precise for a given number of runs (Dunnett 1955). The schedule is fixed
before any data are seen, and the 5% is spent over its looks by a fixed
rule (`Schedule.alpha_at`), each look's share holding for all its
comparisons together; the sum over the looks bounds each kind of false
verdict however the rounds go. The first look and the rule differ by
design, each chosen by simulating the product's decisions
(docs/statistics.md).
"""

from __future__ import annotations

import dataclasses
import math

FAMILY_ALPHA = 0.05
# With seeds of their own: a first look at this many runs, then each look
# about `GROWTH` times the runs of the one before.
FIRST_RUNS = 4
GROWTH = 1.5
# With common seeds: looks at these shares of a trial's most runs.
PAIRED_LOOKS = (1 / 2, 3 / 4, 1)


@dataclasses.dataclass(frozen=True)
class Family:
    """The comparisons a study makes together, at one look at its runs.

    Attributes:
        comparisons: m, the study's comparisons at this look (those made
            now and those decided earlier or made later alike).
        alpha: the chance, at this look, that any of the m intervals
            misses (`tuning.rounds.Schedule.alpha_at`).
        correlation: between two comparisons' statistics: n / (n + r)
            for trials of n runs against a shared reference of r; 0 for
            comparisons that share no runs (two studies' pairs).
        reference_share: the reference's runs per run of a trial, for
            `repeats_needed`.
        paired: whether run k of every trial trained from the same seed,
            so that a comparison is on the differences of runs of one seed
            (`tuning.verdicts`).
    """

    comparisons: int
    alpha: float
    correlation: float
    reference_share: float = 1.0
    paired: bool = False


@dataclasses.dataclass(frozen=True)
class Schedule:
    """The runs per trial and per reference at each look.

    Attributes:
        trial_runs: a trial's runs at look 1, 2, ...
        reference_runs: the reference's runs at the same looks.
        comparisons: m, the comparisons with the reference.
        paired: whether run k of every trial shares its seed (`Family`).
    """

    trial_runs: tuple[int, ...]
    reference_runs: tuple[int, ...]
    comparisons: int
    paired: bool = False

    @classmethod
    def fixed(cls, repeats: int, comparisons: int, paired: bool = False) -> Schedule:
        """One look: `repeats` runs for every trial and the reference."""
        return cls((repeats,), (repeats,), comparisons, paired)

    @classmethod
    def adaptive(
        cls, max_repeats: int, comparisons: int, paired: bool = False
    ) -> Schedule:
        """Looks up to `max_repeats` runs per trial. When `paired`, at
        `PAIRED_LOOKS` of them, the reference as many; else at `FIRST_RUNS`,
        then about `GROWTH` times more each time, the reference about
        sqrt(m) times as many."""
        if paired:
            looks = sorted({math.ceil(share * max_repeats) for share in PAIRED_LOOKS})
            return cls(tuple(looks), tuple(looks), comparisons, paired)
        runs = [FIRST_RUNS]
        while runs[-1] < max_repeats:
            runs.append(
                min(max(math.ceil(runs[-1] * GROWTH), runs[-1] + 1), max_repeats)
            )
        share = math.sqrt(max(comparisons, 1))
        reference = tuple(math.ceil(share * n) for n in runs)
        return cls(tuple(runs), reference, comparisons, paired)

    @property
    def looks(self) -> int:
        return len(self.trial_runs)

    def alpha_at(self, look: int) -> float:
        """The share of the study's 5% spent at `look` (1-based). Paired, an
        equal share a look: its later looks decide the comparisons that are
        close to the margin. Else Lan and DeMets' Pocock-type spending
        function, alpha ln(1 + (e - 1) t), at the look's share t of a
        trial's most runs, which spends more at the first look, where most
        comparisons of runs with seeds of their own are decided."""
        if self.paired:
            return FAMILY_ALPHA / self.looks

        def spent(look: int) -> float:
            share = self.trial_runs[look - 1] / self.trial_runs[-1] if look else 0.0
            return FAMILY_ALPHA * math.log(1 + (math.e - 1) * share)

        return spent(look) - spent(look - 1)

    def family(self, look: int) -> Family:
        """The comparisons' family at `look`: m comparisons of a trial's
        runs then against the reference's, with the look's level."""
        n, r = self.trial_runs[look - 1], self.reference_runs[look - 1]
        return Family(
            max(self.comparisons, 1), self.alpha_at(look), n / (n + r),
            self.reference_share, self.paired,
        )  # fmt: skip

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


def first_look(max_repeats: int, paired: bool) -> int:
    """A trial's runs at the first look of `--repeats auto` up to
    `max_repeats` runs, runs `paired` by their seed or not: what
    `StudySettings.repeats` holds for such a study."""
    return Schedule.adaptive(max_repeats, 1, paired).trial_runs[0]


# The hyperparameter that carries the round of a trial of `--repeats auto`
# (each round of a variant is a trial of its own, so workers share it).
ROUND_KEY = "round"
