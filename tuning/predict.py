"""`python -m tuning.predict RUN_DIR [REVIEW ...]`: score reviews with the best model.

Prints, per review, the probability that it is positive and the review.
Reviews come from the arguments, else from `--file` (one per line), else
from standard input (one per line).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from tuning import cli, runtime
from tuning.errors import UsageError
from tuning.run_dir import RunDir


def read_reviews(args: argparse.Namespace) -> list[str]:
    """The reviews to score, from arguments, `--file` or standard input."""
    if args.reviews:
        lines = args.reviews
    elif args.file:
        try:
            lines = _decoded(Path(args.file).read_bytes()).splitlines()
        except OSError as e:
            raise UsageError(
                f"Cannot read --file {args.file!r}: {e.strerror}."
            ) from None
    else:
        lines = _decoded(sys.stdin.buffer.read()).splitlines()
    reviews = [line.strip() for line in lines if line.strip()]
    if not reviews:
        raise UsageError(
            "No review to score. Pass reviews as arguments, --file, or stdin."
        )
    return reviews


def _decoded(data: bytes) -> str:
    """Reviews as text: UTF-8, with bytes that are not replaced (the
    tokenizer drops them as it drops any word outside the vocabulary)."""
    return data.decode("utf-8", errors="replace")


def predict(args: argparse.Namespace) -> int:
    run_dir = RunDir(args.run_dir)
    if not run_dir.best_model.model.is_file():
        raise UsageError(
            f"No best model in {str(run_dir.root)!r}. Pass a run directory whose "
            "search finished, e.g. logs/random."
        )
    reviews = read_reviews(args)
    settings = run_dir.read_settings()
    os.environ.setdefault("KERAS_BACKEND", settings.backend)
    runtime.settle_packages(os.environ["KERAS_BACKEND"])

    from tuning.best_model import load_best_model
    from tuning.text import encode_reviews

    model, word_index = load_best_model(run_dir)
    probabilities = model.predict(encode_reviews(reviews, word_index), verbose=0)
    for probability, review in zip(probabilities[:, 0], reviews, strict=True):
        print(f"{probability:.4f}\t{review}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = cli.run_dir_parser(
        "python -m tuning.predict", "Print the positive probability of each review."
    )
    parser.add_argument(
        "reviews", nargs="*", help="review texts (default: --file or stdin)"
    )
    parser.add_argument("--file", help="a file with one review per line")
    cli.add_common_flags(parser)
    return parser


def main(argv: list[str] | None = None) -> int:
    return cli.run_command(predict, build_parser(), argv)


if __name__ == "__main__":
    cli.exit_process(main())
