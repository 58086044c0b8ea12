"""Marked time ranges of videos (a run's highlights, or a search's moments): what chapters
and editor timelines are made of."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..highlight.result import HighlightsResult

TITLE_CHARS = 80
"""Chapter and clip names are cut to this many characters (at a word when one ends near)."""


@dataclass(frozen=True)
class Mark:
    """One range of one video, with a short title."""

    video: Path
    start_s: float
    end_s: float
    title: str
    fps: float


def title_of(text: str) -> str:
    """The first line of `text`, cut to TITLE_CHARS at a word."""
    first = " ".join(text.split()) or "(no description)"
    if len(first) <= TITLE_CHARS:
        return first
    cut = first[: TITLE_CHARS - 1]
    space = cut.rfind(" ")
    return (cut[:space] if space > TITLE_CHARS // 2 else cut).rstrip(" ,.;:") + "…"


def highlight_marks(result: HighlightsResult) -> list[Mark]:
    """A highlights run's highlights, in time order."""
    video, fps = Path(result.video_path), result.source.fps
    return sorted(
        (Mark(video, h.start_s, h.end_s, title_of(h.description), fps) for h in result.highlights),
        key=lambda mark: mark.start_s,
    )
