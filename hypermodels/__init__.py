"""Search spaces for the IMDB sentiment classifier.

`SentimentHyperModel` is imported on first use, so that reading the variants
(for instance to validate command-line flags) does not import Keras.
"""

from hypermodels.variants import VARIANTS, VARIANTS_BY_NAME, Variant, grid_choices

__all__ = [
    "VARIANTS",
    "VARIANTS_BY_NAME",
    "SentimentHyperModel",
    "Variant",
    "grid_choices",
]


def __getattr__(name):
    if name == "SentimentHyperModel":
        from hypermodels.sentiment import SentimentHyperModel

        return SentimentHyperModel
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
