"""The results page of a search (templates/search.html.j2, autoescaped): the moments grouped
by video, each video playable on the page, each moment a button that plays its range."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..files import atomic_write_text
from ..output.report import environment, relative_href
from ..timecodes import format_time
from .store import Hit


def page_text(hits: Sequence[Hit], query: str, folder: Path) -> str:
    """The page; links to videos and thumbnails are relative to `folder` (the page's)."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for hit in hits:
        groups.setdefault(hit.video, []).append(
            {
                "span": f"{format_time(hit.start_s)}-{format_time(hit.end_s)}",
                "start_s": hit.start_s,
                "end_s": hit.end_s,
                "significance": hit.significance,
                "parts": hit.description_parts(),
                "speech": hit.speech_parts(),
                "question": hit.question,
                "thumbnail": relative_href(Path(hit.thumbnail), folder) if hit.thumbnail else None,
            }
        )
    videos = [
        {
            "number": n,
            "name": Path(v).name,
            "path": v,
            "href": relative_href(Path(v), folder),
            "hits": hs,
        }
        for n, (v, hs) in enumerate(groups.items(), 1)
    ]
    return (
        environment()
        .get_template("search.html.j2")
        .render(query=query, count=len(hits), videos=videos)
    )


def write_page(hits: Sequence[Hit], query: str, path: Path) -> Path:
    """Write the results page atomically."""
    return atomic_write_text(path, page_text(hits, query, path.parent))
