"""`python -m tuning.compare RUN_A RUN_B`: did a change change the results?

Compares the trials two studies both trained (`tuning.two_studies`) and
writes `compare.csv`, `compare.md` and `compare.png` into a directory it
prints.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

from tuning import cli
from tuning.errors import UsageError
from tuning.run_dir import ComparisonDir, RunDir
from tuning.settings import StudySettings


def build_parser() -> argparse.ArgumentParser:
    parser = cli.ArgumentParser(
        prog="python -m tuning.compare",
        description=(
            "Compare study B with study A: for each configuration trained in "
            "both (the same grid variant, or the same hyperparameters), B's "
            "runs against A's, with an interval and a verdict (better, worse, "
            "equivalent within the margin, undecided). Writes compare.csv, "
            "compare.md and compare.png into a directory it prints."
        ),
    )
    parser.add_argument("run_a", type=Path, help="the study compared against (A)")
    parser.add_argument("run_b", type=Path, help="the study compared (B)")
    parser.add_argument(
        "--margin",
        type=cli.float_between(0, math.inf, "a positive number"),
        metavar="D",
        help="the smallest difference in the objective that matters (default: A's)",
    )
    parser.add_argument(
        "--output",
        type=_output_path,
        metavar="DIR",
        help="where to write the comparison (default: compare-A-vs-B beside A)",
    )
    parser.add_argument(
        "--allow-differences",
        action="store_true",
        help="compare even if the studies' objectives, epochs or protocols "
        "differ; compare.md then says what differs",
    )
    cli.add_common_flags(parser)
    return parser


def compare(args: argparse.Namespace) -> int:
    from tuning.analysis import analyze_run
    from tuning.compare_outputs import write_comparison
    from tuning.two_studies import compare_studies, differing_settings

    run_a, run_b = RunDir(args.run_a), RunDir(args.run_b)
    if run_a.root.resolve() == run_b.root.resolve():
        raise UsageError("RUN_A and RUN_B are the same run. Pass two run directories.")
    settings_a, settings_b = run_a.read_settings(), run_b.read_settings()
    output = args.output or run_a.root.parent / (
        f"compare-{run_a.root.name}-vs-{run_b.root.name}"
    )
    written = ComparisonDir(output)
    differences = differing_settings(settings_a, settings_b)
    _check_comparable(differences, args.allow_differences, written.report)
    analyses = []
    for run_dir, settings in ((run_a, settings_a), (run_b, settings_b)):
        _check_repeated(run_dir, settings)
        analyses.append(analyze_run(run_dir, settings))
        _check_finished(run_dir, analyses[-1])
    names = (str(args.run_a), str(args.run_b))
    two = compare_studies(*analyses, args.margin, names)
    if not two.pairs:
        raise UsageError(
            f"No trial of {names[0]!r} matches one of {names[1]!r}: grids match by "
            "variant, searches by hyperparameters (the same --seed and space). "
            "Pass two studies of the same trials."
        )
    _check_output(written, two)
    output.mkdir(parents=True, exist_ok=True)
    write_comparison(written, two)
    _print_summary(two)
    print(output)
    return 0


def _check_comparable(
    differences: dict[str, tuple], allowed: bool, report: Path
) -> None:
    from tuning.two_studies import measurement_differences

    measured = measurement_differences(differences)
    text = "; ".join(f"{name} {a} vs {b}" for name, (a, b) in measured.items())
    if "objective" in measured:
        a, b = measured["objective"]
        raise UsageError(
            f"The two studies optimize different objectives ({a} vs {b}): a "
            f"difference of a {b} from a {a} means nothing, whatever "
            "--allow-differences allows. Compare studies of one objective."
        )
    if measured and not allowed:
        raise UsageError(
            f"The two studies measure differently ({text}): their verdicts would "
            "compare two measurements. Compare studies with the same objective, "
            "epochs and protocol, or pass --allow-differences."
        )
    if measured:
        print(f"note: the studies differ in {text}; see {report}", file=sys.stderr)


def _output_path(text: str) -> Path:
    """An argparse `type=`: a directory path, never empty (which would mean
    the current directory)."""
    if not text.strip():
        raise argparse.ArgumentTypeError("expected a directory, received ''")
    return Path(text)


def _check_output(written: ComparisonDir, two) -> None:
    """Refuses an output that would write into a study, onto a file, or
    over another comparison's `compare.md`."""
    output = written.root
    resolved = output.resolve()
    for directory in (resolved, *resolved.parents):
        if RunDir(directory).study.is_file():
            raise UsageError(
                f"--output {str(output)!r} is inside the run {str(directory)!r}, "
                "whose files are the study's. Pass a directory outside any run."
            )
    if output.exists() and not output.is_dir():
        raise UsageError(f"--output {str(output)!r} is a file. Pass a directory.")
    report = written.report
    title = f"# {two.names[1]} against {two.names[0]}"
    if report.is_file() and report.read_text().splitlines()[:1] != [title]:
        raise UsageError(
            f"{str(report)!r} compares other studies. Pass another --output, or "
            "remove it."
        )


def _check_finished(run_dir: RunDir, analysis) -> None:
    """Refuses a study still running or stopped before its end: its pairs,
    and the level split over them, would be those it happened to have."""
    from tuning.records import ENDED_STATUSES

    labels = {t.label for t in analysis.trials}
    open_ = [t.label for t in analysis.trials if t.record.status not in ENDED_STATUSES]
    open_ += [v for v in analysis.settings.variants if v not in labels]  # a grid's
    if open_ or not run_dir.search_ended.is_file():
        which = f" ({', '.join(open_)})" if open_ else ""
        raise UsageError(
            f"{str(run_dir.root)!r} is not finished{which}: it is running, or "
            "stopped before its end. Run its search again to finish it, then "
            "compare."
        )


def _check_repeated(run_dir: RunDir, settings: StudySettings) -> None:
    if not settings.gives_verdicts:
        raise UsageError(
            f"{str(run_dir.root)!r} trained one run per trial: no verdict is "
            "possible between single runs, which seed noise alone can set apart. "
            "Train both studies with --repeats 5 or more."
        )


def _print_summary(two) -> None:
    from tuning.tables import format_bounds

    width = max(len(p.label) for p in two.pairs)
    for pair in two.pairs:
        result = pair.comparison
        interval = format_bounds(result.ci_low, result.ci_high)
        print(
            f"{pair.label:<{width}}  B-A {result.difference:+.4f} {interval:<18} "
            f"{result.verdict}"
        )


def main(argv: list[str] | None = None) -> int:
    return cli.run_command(compare, build_parser(), argv)


if __name__ == "__main__":
    cli.exit_process(main())
