"""The JSON record of an analysis."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

from .atomic import atomic_write_text


def default_output_path(video: Path, started_at: datetime, folder: Path = Path("results")) -> Path:
    """results/<video-stem>_<UTC timestamp>.json"""
    stamp = started_at.strftime("%Y%m%dT%H%M%SZ")
    return folder / f"{video.stem}_{stamp}.json"


def write_json(data: dict[str, Any], path: Path) -> Path:
    """Write a record as indented UTF-8 JSON, atomically."""
    return atomic_write_text(path, json.dumps(data, indent=2, ensure_ascii=False) + "\n")
