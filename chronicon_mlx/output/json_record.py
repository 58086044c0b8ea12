"""JSON records on disk: default names, atomic and never-clobbering writes."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from ..files import atomic_write_new, atomic_write_text
from ..text import json_text


def default_output_path(video: Path, started_at: datetime, folder: Path = Path("results")) -> Path:
    """results/<video-stem>_<UTC timestamp>.json"""
    stamp = started_at.strftime("%Y%m%dT%H%M%SZ")
    return folder / f"{video.stem}_{stamp}.json"


def write_json(data: dict[str, Any], path: Path, exclusive: bool = False) -> Path:
    """Write a record as indented UTF-8 JSON, atomically; return the path written.

    With `exclusive` an existing file is never replaced: the record gets the next free
    name (``name-2.json``, ...), so runs writing into one folder at once never clobber.
    """
    text = json_text(data) + "\n"
    if exclusive:
        return atomic_write_new(path, text.encode("utf-8"))
    return atomic_write_text(path, text)
