"""Where `library add` keeps each video's highlights pass (its checkpoint, thumbnails and
JSON record), beside the library: ``<library>-runs/<content>/``."""

from __future__ import annotations

from pathlib import Path


def runs_folder(library: Path) -> Path:
    """The folder that holds the library's passes."""
    return library.parent / f"{library.stem}-runs"


def run_folder(library: Path, content: str) -> Path:
    """One video's pass folder, named by its content hash (a moved or renamed video
    resumes in the same folder)."""
    return runs_folder(library) / content[:16]
