"""Files written whole: a reader, or a run killed mid-write, sees the old
file or the new one, never a part."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO


@contextlib.contextmanager
def atomic_file(path: Path) -> Iterator[BinaryIO]:
    """A binary file to write `path` through: a temporary name beside it,
    renamed to `path` when the block ends, removed if the block fails.

    A reader, or a run killed mid-write, sees the old file or the new one,
    never a part.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(temporary, "wb") as file:
            yield file
        temporary.replace(path)
    finally:
        temporary.unlink(missing_ok=True)


def write_text_atomically(path: Path, text: str) -> None:
    """Writes `text` to `path` through `atomic_file`."""
    with atomic_file(path) as file:
        file.write(text.encode())
