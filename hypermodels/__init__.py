"""Search spaces for the IMDB sentiment classifier.

`SentimentHyperModel` is imported on first use, so that reading the variants
and spaces (for instance to validate command-line flags) does not import Keras.
"""

from hypermodels.space import WIDE_SPACE, SpaceError, load_space
from hypermodels.variants import VARIANTS, VARIANTS_BY_NAME, Variant, grid_space

__all__ = [
    "VARIANTS",
    "VARIANTS_BY_NAME",
    "WIDE_SPACE",
    "SentimentHyperModel",
    "SpaceError",
    "Variant",
    "grid_space",
    "load_space",
]


def __getattr__(name):
    if name == "SentimentHyperModel":
        from hypermodels.sentiment import SentimentHyperModel

        return SentimentHyperModel
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
