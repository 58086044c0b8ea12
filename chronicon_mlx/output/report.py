"""Markdown and HTML reports of highlights: the page has a timeline of the whole video and
plays each highlight from the source video; thumbnails are files beside both."""

from __future__ import annotations

import os
import urllib.parse
from pathlib import Path

import jinja2

from ..files import atomic_write_text
from ..highlight.result import Highlight, HighlightsResult
from ..options.choices import SORTS as SORTS
from ..timecodes import format_time
from . import timeline
from .escape import markdown


def ordered(result: HighlightsResult, sort: str) -> list[Highlight]:
    """The highlights by rank ("score") or in time order ("time")."""
    if sort == "time":
        return sorted(result.highlights, key=lambda h: h.start_s)
    return sorted(result.highlights, key=lambda h: h.rank)


def _span(highlight: Highlight) -> str:
    return f"{format_time(highlight.start_s)}-{format_time(highlight.end_s)}"


def markdown_text(result: HighlightsResult, sort: str = "score") -> str:
    """The Markdown report."""
    title = Path(result.video_path).name
    backend = result.backend_info.name if result.backend_info else "no model run"
    lines = [
        f"# Highlights of {markdown(title)}",
        "",
        f"{len(result.highlights)} highlights from {len(result.windows)} windows"
        f" ({result.unscored} unscored) · profile {markdown(result.profile.name)} ·"
        f" model {markdown(result.model.name)} · {backend}"
        f" · sorted by {'time' if sort == 'time' else 'significance'}",
        "",
    ]
    lines += [f"> note: {markdown(note)}" for note in result.notes]
    if result.notes:
        lines.append("")
    if not result.highlights:
        lines.append("No window reached the minimum significance.")
    for highlight in ordered(result, sort):
        lines += [
            f"## {highlight.rank}. {_span(highlight)} · significance {highlight.significance}/10",
            "",
            markdown(highlight.description),
            "",
        ]
        if highlight.speech:
            lines += [f"> Speech: {markdown(highlight.speech)}", ""]
        if highlight.thumbnail:
            lines += [
                f"![frame at {format_time(highlight.frame_time_s)}]({highlight.thumbnail})",
                "",
            ]
        lines += [f"Windows: {', '.join(str(n) for n in highlight.windows)}", ""]
    return "\n".join(lines).rstrip() + "\n"


def html_text(
    result: HighlightsResult,
    sort: str = "score",
    folder: Path | None = None,
    reel: Path | None = None,
) -> str:
    """The HTML report (templates/report.html.j2, autoescaped): a timeline of every window,
    the source video with each highlight playable, the cards and every window's answer.
    Paths to the video, the reel and the thumbnails are relative to `folder` (the report's
    own), so the folder can be moved with the video beside it."""
    template = environment().get_template("report.html.j2")
    duration = max(result.source.duration_s, *(w.end_s for w in result.windows), 0.0)
    video_href = relative_href(Path(result.video_path), folder)
    cards = [
        {
            "rank": h.rank,
            "significance": h.significance,
            "span": _span(h),
            "start_s": h.start_s,
            "end_s": h.end_s,
            "description": h.description,
            "speech": h.speech,
            "thumbnail": h.thumbnail,
            "frame_time": format_time(h.frame_time_s),
            "windows": ", ".join(str(n) for n in h.windows),
        }
        for h in ordered(result, sort)
    ]
    rows = [
        {
            "number": w.number,
            "span": f"{format_time(w.start_s)}-{format_time(w.end_s)}",
            "score": "-" if w.significance is None else str(w.significance),
            "text": w.description if w.description is not None else f"(unscored) {w.raw[:120]}",
        }
        for w in result.windows
    ]
    strip = [
        {"number": w.number, "src": w.thumbnail, "time": format_time(w.start_s)}
        for w in result.windows
        if w.thumbnail
    ]
    return template.render(
        title=Path(result.video_path).name,
        profile=result.profile.name,
        model=result.model.name,
        order="time" if sort == "time" else "significance",
        notes=result.notes,
        unscored=result.unscored,
        windows=result.windows,
        highlights=cards,
        window_rows=rows,
        strip=strip,
        duration=format_time(duration),
        timeline=timeline.build(result.windows, result.highlights, duration, result.audio),
        video_href=video_href,
        video_note=f"the video ({result.video_path}) is not reachable from this report's"
        " folder: move them to one disk, or open the video yourself",
        reel_href=relative_href(reel, folder) if reel is not None else None,
    )


def environment(package: str = "chronicon_mlx.output") -> jinja2.Environment:
    """A package's templates (its ``templates`` folder), autoescaped."""
    return jinja2.Environment(
        loader=jinja2.PackageLoader(package, "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
    )


def relative_href(target: Path, folder: Path | None) -> str | None:
    """A URL to `target` relative to `folder` (None when the file is missing or on another
    drive than the folder)."""
    if not target.is_file():
        return None
    try:
        relative = os.path.relpath(target.resolve(), (folder or Path.cwd()).resolve())
    except ValueError:
        return None
    return urllib.parse.quote(Path(relative).as_posix())


def write_markdown(result: HighlightsResult, path: Path, sort: str = "score") -> Path:
    """Write the Markdown report atomically."""
    return atomic_write_text(path, markdown_text(result, sort))


def write_html(
    result: HighlightsResult, path: Path, sort: str = "score", reel: Path | None = None
) -> Path:
    """Write the HTML report atomically (with `reel`, the reel plays on the page too)."""
    return atomic_write_text(path, html_text(result, sort, path.parent, reel))
