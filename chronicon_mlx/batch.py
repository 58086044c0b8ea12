"""Many videos in one run: expanding folders into video files, naming outputs uniquely."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from .errors import UsageError

_EXTENSIONS = ".mp4 .m4v .mov .mkv .webm .avi .mpg .mpeg .wmv .flv .ts .mts .m2ts .3gp .ogv"
VIDEO_EXTENSIONS = frozenset(_EXTENSIONS.split())


def expand(paths: Sequence[Path], recursive: bool = False) -> list[Path]:
    """The video files named: files as given, folders expanded to the video files in them
    (sorted; in subfolders too with `recursive`). Duplicates are dropped."""
    found: list[Path] = []
    for path in paths:
        path = path.expanduser()
        if path.is_dir():
            pattern = path.rglob("*") if recursive else path.glob("*")
            videos = sorted(
                p for p in pattern if p.is_file() and p.suffix.lower() in VIDEO_EXTENSIONS
            )
            if not videos:
                deeper = "" if recursive else " (add --recursive to look in subfolders)"
                raise UsageError(
                    f"no video files in {path}{deeper}",
                    hint=f"video files end in {', '.join(sorted(VIDEO_EXTENSIONS))}",
                )
            found.extend(videos)
        else:
            found.append(path)
    unique: dict[Path, None] = {}
    for path in found:
        unique.setdefault(path.resolve() if path.exists() else path, None)
    return list(unique)


def unique_path(path: Path, taken: set[Path]) -> Path:
    """`path`, or `path` with -2, -3, ... before its suffix if this run already used it."""
    candidate, number = path, 1
    while candidate in taken:
        number += 1
        candidate = path.with_name(f"{path.stem}-{number}{path.suffix}")
    taken.add(candidate)
    return candidate
