"""Two studies compared, rendered: `compare.csv` (one row per matched
trial), `compare.md` and `compare.png`, all from one
`tuning.two_studies.TwoStudies`; `compare.md`'s table renders
`compare.csv`'s rows.
"""

from __future__ import annotations

import collections
import math
from pathlib import Path

from tuning import verdicts
from tuning.analysis import Analysis
from tuning.figures import TITLES, write_figure
from tuning.files import write_text_atomically
from tuning.run_dir import ComparisonDir
from tuning.tables import format_bounds, format_cell, write_csv
from tuning.two_studies import TwoStudies


def write_comparison(directory: ComparisonDir, two: TwoStudies) -> None:
    """Writes `compare.csv`, `compare.png` and `compare.md` into `directory`."""
    write_pair_table(directory.table, two)
    figure = write_figure(directory.figure, draw_differences(two))
    write_pair_report(directory.report, two, figure)


def pair_rows(two: TwoStudies) -> list[dict]:
    """One row per matched trial: each study's runs and mean objective, B
    minus A with its interval, P(B>A), the verdict and the runs it needs."""
    rows = []
    for pair in two.pairs:
        result = pair.comparison
        a, b = pair.a.summaries["objective"], pair.b.summaries["objective"]
        rows.append(
            {
                "label": pair.label,
                "runs_a": a.n,
                "runs_b": b.n,
                "mean_a": a.mean,
                "mean_b": b.mean,
                "difference": result.difference,
                "difference_ci_low": result.ci_low,
                "difference_ci_high": result.ci_high,
                "p_b_beats_a": result.p_beats,
                "interval": result.interval,
                "margin": two.margin,
                "verdict": result.verdict,
                "repeats_needed": verdicts.runs_needed_cell(result),
            }
        )
    return rows


def write_pair_table(path: Path, two: TwoStudies) -> None:
    """Writes `compare.csv`."""
    write_csv(path, pair_rows(two))


def write_pair_report(path: Path, two: TwoStudies, figure: Path | None) -> Path:
    """Writes `compare.md`: the two studies, what differs between them,
    each matched trial's verdict with its interval, and the figure."""
    first, second = two.names
    objective = two.a.objective
    lines = [
        f"# {second} against {first}",
        "",
        f"- A: `{first}`: {_study_line(two.a)}",
        f"- B: `{second}`: {_study_line(two.b)}",
        "",
        *_pair_differences(two),
        "",
        f"For each configuration trained in both, B's runs against A's on "
        f"{objective} (each run's best), margin D = {two.margin:g}: the "
        "difference of means, B minus A, with its "
        + verdicts.method(f"{len(two.pairs)} pair(s)"),
        "",
        "| trial | runs A | runs B | mean A | mean B | B - A | simultaneous 95% CI "
        "| interval | P(B>A) | verdict | runs needed |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in pair_rows(two):  # compare.csv's rows
        interval = format_bounds(
            row["difference_ci_low"], row["difference_ci_high"], signed=True
        )
        lines.append(
            f"| {row['label']} | {row['runs_a']} | {row['runs_b']} | "
            f"{row['mean_a']:.4f} | {row['mean_b']:.4f} | "
            f"{row['difference']:+.4f} | {interval} | {row['interval']} | "
            f"{format_cell(row['p_b_beats_a'], digits=2)} | {row['verdict']} | "
            f"{row['repeats_needed']} |"
        )
    counts = collections.Counter(p.comparison.verdict for p in two.pairs)
    lines += [
        "",
        "In all: "
        + ", ".join(f"{counts[v]} {v}" for v in verdicts.ALL if counts[v])
        + ".",
    ]
    if two.only_a or two.only_b:
        lines.append(
            f"Not matched: only in A {two.only_a or 'none'}; only in B "
            f"{two.only_b or 'none'}."
        )
    if figure:
        lines += ["", f"![{figure.stem}]({figure.name})"]
    write_text_atomically(path, "\n".join(lines) + "\n")
    return path


def _study_line(analysis: Analysis) -> str:
    settings = analysis.settings
    runs = f"up to {settings.max_repeats}" if settings.max_repeats else settings.repeats
    return (
        f"mode {settings.mode}, backend {settings.backend}, seed {settings.seed}, "
        f"{settings.epochs} epochs, {runs} runs a trial; "
        f"{settings.protocol_description}."
    )


def _pair_differences(two: TwoStudies) -> list[str]:
    """What differs between the two studies, the measurement first."""
    if not two.differences:
        return ["The two studies' settings are the same."]
    text = "; ".join(f"{name} {a} vs {b}" for name, (a, b) in two.differences.items())
    lines = [f"Settings that differ: {text}."]
    if two.measurement_differences:
        lines.append(
            "**These change what the objective measures: "
            + ", ".join(two.measurement_differences)
            + ". The verdicts below compare two measurements, not one training "
            "under a change.**"
        )
    return lines


VERDICT_COLORS = {
    verdicts.BETTER: "tab:green",
    verdicts.WORSE: "tab:red",
    verdicts.EQUIVALENT: "tab:blue",
}


def draw_differences(two: TwoStudies):
    """One row per matched trial: B minus A as a dot, its simultaneous
    interval as whiskers, 0 and plus or minus the margin marked; returns
    the Figure."""
    from matplotlib.figure import Figure

    pairs = two.pairs
    figure = Figure(figsize=(8, 1.8 + 0.45 * len(pairs)), layout="constrained")
    axes = figure.subplots()
    axes.axvspan(-two.margin, two.margin, fill=False, hatch="//",
                 edgecolor="tab:green", linewidth=0, alpha=0.5,
                 label=f"± margin {two.margin:g}")  # fmt: skip
    axes.axvline(0, color="grey", linewidth=0.8)
    for row, pair in enumerate(pairs):
        result = pair.comparison
        color = VERDICT_COLORS.get(result.verdict, "tab:grey")
        if not math.isnan(result.ci_low):
            axes.hlines(row, result.ci_low, result.ci_high, color=color, linewidth=2)
        axes.plot(result.difference, row, "o", color=color, markersize=7)
    axes.set_yticks(
        list(range(len(pairs))),
        [f"{p.label}: {p.comparison.verdict}" for p in pairs],
    )
    axes.invert_yaxis()
    objective = TITLES.get(two.a.objective.name, two.a.objective.name).lower()
    axes.set_xlabel(f"B minus A: difference of mean best {objective}")
    axes.set_title(f"{two.names[1]} (B) against {two.names[0]} (A)", fontsize="medium")
    axes.grid(alpha=0.3, axis="x")
    figure.legend(loc="outside lower center", fontsize="small")
    figure.suptitle(
        f"Whiskers: simultaneous 95% interval over {len(pairs)} pair(s)",
        fontsize="small",
    )
    return figure
