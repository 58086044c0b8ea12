"""A search's moments as files: the results page, chapters and editor timelines."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from ..errors import UsageError
from ..files import atomic_write_text
from ..media.probe import probe
from ..output.chapters import chapters_vtt_of, ffmetadata_of, youtube_of
from ..output.editors import write_edl, write_otio
from ..output.marks import Mark, title_of
from .store import Hit

EXPORTS = {
    ".ffmetadata": "FFmetadata chapters",
    ".chapters.vtt": "WebVTT chapters",
    ".youtube.txt": "a YouTube chapter list",
    ".edl": "a CMX 3600 EDL",
    ".otio": "an OpenTimelineIO timeline",
}
"""What `--export FILE` writes, by the file name's ending."""


def marks_of(hits: Sequence[Hit]) -> list[Mark]:
    """The hits as marks, each at its video's frame rate (probed once per video)."""
    rates: dict[str, float] = {}
    for video in {hit.video for hit in hits}:
        rates[video] = probe(video).fps if Path(video).is_file() else 0.0
    return [
        Mark(Path(hit.video), hit.start_s, hit.end_s, title_of(hit.description), rates[hit.video])
        for hit in hits
    ]


def export(hits: Sequence[Hit], path: Path, query: str) -> Path:
    """Write the hits to `path` in the format its name ends with (see EXPORTS)."""
    ending = next((end for end in EXPORTS if path.name.endswith(end)), None)
    if ending is None:
        raise UsageError(
            f"{path.name}: the file name does not say what to export",
            hint="end it in " + ", ".join(EXPORTS),
        )
    marks = marks_of(hits)
    name = f"moments: {query}"
    if ending == ".edl":
        return write_edl(marks, path, name)
    if ending == ".otio":
        return write_otio(marks, path, name)
    chapters = {".ffmetadata": ffmetadata_of, ".chapters.vtt": chapters_vtt_of}
    return atomic_write_text(path, chapters.get(ending, youtube_of)(marks))
