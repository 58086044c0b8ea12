"""Results to files: the JSON record, captions, reports and the reel, always atomically."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import field as field_name
from ..highlight.result import HighlightsResult
from ..options.choices import DEFAULT_FORMATS, FORMATS, SORTS, Sort, check_choice
from .captions import write_srt, write_vtt
from .json_record import write_json
from .reel import Reel, write_reel
from .report import write_html, write_markdown

_WRITERS: dict[str, Callable[[HighlightsResult, Path, Sort], Path]] = {
    "json": lambda result, path, sort: write_json(result.to_dict(), path),
    "srt": lambda result, path, sort: write_srt(result.windows, path),
    "vtt": lambda result, path, sort: write_vtt(result.windows, path),
    "md": write_markdown,
    "html": write_html,
}


@dataclass(frozen=True)
class Written:
    """The files a highlights run wrote, the reel when one was cut, and the reports of
    formats an earlier run wrote into the folder that were not asked for this time (removed,
    so the folder holds one run's outputs)."""

    paths: list[Path] = field(default_factory=list)
    reel: Reel | None = None
    removed: list[Path] = field(default_factory=list)


def highlights_path(result: HighlightsResult, folder: Path, fmt: str) -> Path:
    """Where format `fmt` of a highlights result goes: ``<stem>_highlights.<fmt>``."""
    return folder / f"{Path(result.video_path).stem}_highlights.{fmt}"


def write_highlights(
    result: HighlightsResult,
    folder: Path,
    formats: Sequence[str] = DEFAULT_FORMATS,
    sort: Sort = "score",
    reel: Path | None = None,
) -> Written:
    """Write each of `formats` (json, srt, vtt, md, html) into `folder`, and with `reel` cut
    the highlights into that clip."""
    check_choice(sort, SORTS, field_name("sort"))
    for fmt in formats:
        check_choice(fmt, FORMATS, field_name("formats"))
    cut = write_reel(result.source, result.highlights, reel) if reel is not None else None
    paths = []
    for fmt in formats:
        target = highlights_path(result, folder, fmt)
        if fmt == "html":
            paths.append(write_html(result, target, sort, cut.path if cut else None))
        else:
            paths.append(_WRITERS[fmt](result, target, sort))
    if cut is not None:
        paths.append(cut.path)
    removed = []
    for fmt in FORMATS:
        stale = highlights_path(result, folder, fmt)
        if fmt not in formats and stale.is_file():
            stale.unlink()
            removed.append(stale)
    return Written(paths, cut, removed)
