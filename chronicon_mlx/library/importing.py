"""`library import FOLDER`: the JSON records of earlier runs (highlights and analyses) found
under a folder, read back, checked and stored."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from ..errors import OutputError
from ..files import read_own
from .records import RecordError
from .store import Library

MAX_RECORD_BYTES = 64 * 2**20
"""A larger JSON file is not one of the tool's records (a 10-hour run's is a few MB)."""


@dataclass(frozen=True)
class Imported:
    """What became of one record: `added` moments, or why it was skipped (`known`: its
    pass is in the library already)."""

    path: Path
    added: int = 0
    skipped: str | None = None
    known: bool = False


def records_under(folder: Path) -> list[Path]:
    """The JSON files under `folder` (links are not followed), by path."""
    found = []
    for path in sorted(folder.rglob("*.json")):
        if path.is_symlink() or not path.is_file() or path.name.startswith("."):
            continue
        inside = path.relative_to(folder).parents
        if any((folder / part).is_symlink() for part in inside if part != Path()):
            continue
        found.append(path)
    return found


def import_folder(library: Library, folder: Path) -> Iterator[Imported]:
    """Store every run record under `folder`; other JSON files are skipped, saying why."""
    for path in records_under(folder):
        yield store_record(library, path)


def store_record(library: Library, path: Path, replace: bool = False) -> Imported:
    """Read one run's JSON record (never through a link) and store its pass (`replace`: in
    the place of the same settings' pass)."""
    try:
        data = read_own(path, MAX_RECORD_BYTES)
    except OutputError:
        return Imported(path, skipped="too large to be a record")
    if data is None:
        return Imported(path, skipped="it is gone")
    try:
        record = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        return Imported(path, skipped="not JSON")
    if not isinstance(record, dict) or "chronicon_version" not in record:
        return Imported(path, skipped="not a chronicon-mlx record")
    video = record.get("video_path")
    if isinstance(video, str) and not Path(video).is_file():
        return Imported(path, skipped=f"its video {video} is not there")
    try:
        added = library.add_record(record, path.parent, replace)
    except RecordError as exc:
        return Imported(path, skipped=f"not a record this version reads ({exc})")
    if not added:
        return Imported(path, skipped="already in the library", known=True)
    return Imported(path, added)
