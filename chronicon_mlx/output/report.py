"""Markdown and self-contained HTML reports of highlights, with a thumbnail per highlight."""

from __future__ import annotations

import html
from pathlib import Path

from ..files import atomic_write_text
from ..highlight.result import Highlight, HighlightsResult
from ..options.choices import SORTS as SORTS
from ..timecodes import format_time
from .escape import markdown

_CSS = """
body { font: 15px/1.5 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2rem auto;
       max-width: 60rem; padding: 0 1rem; color: #1d1d1f; background: #fafafa; }
h1 { font-size: 1.6rem; margin-bottom: .2rem; }
.meta { color: #666; margin-top: 0; }
.note { color: #8a5a00; }
ol.highlights { list-style: none; padding: 0; }
.highlight { display: flex; gap: 1rem; background: #fff; border: 1px solid #e3e3e3;
             border-radius: 10px; padding: .8rem; margin-bottom: .8rem; }
.highlight img { width: 240px; height: auto; border-radius: 6px; flex: none; }
.time { font-variant-numeric: tabular-nums; font-weight: 600; }
.score { display: inline-block; min-width: 3.2rem; text-align: center; border-radius: 999px;
         padding: 0 .5rem; color: #fff; background: #0a84ff; font-weight: 600; }
.score.s8, .score.s9, .score.s10 { background: #d70015; }
.score.s6, .score.s7 { background: #ff9f0a; }
.windows { color: #888; font-size: .85rem; }
table { border-collapse: collapse; width: 100%; font-size: .9rem; }
td, th { border-bottom: 1px solid #eee; padding: .3rem .5rem; text-align: left; }
"""


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
        if highlight.thumbnail:
            lines += [
                f"![frame at {format_time(highlight.frame_time_s)}]({highlight.thumbnail})",
                "",
            ]
        lines += [f"Windows: {', '.join(str(n) for n in highlight.windows)}", ""]
    return "\n".join(lines).rstrip() + "\n"


def html_text(result: HighlightsResult, sort: str = "score") -> str:
    """The HTML report: one file with inline CSS; thumbnails are files beside it."""
    esc = html.escape
    title = Path(result.video_path).name
    items = []
    for h in ordered(result, sort):
        image = (
            f'<img src="{esc(h.thumbnail)}" alt="frame at {format_time(h.frame_time_s)}">'
            if h.thumbnail
            else ""
        )
        items.append(
            f'<li class="highlight" id="highlight-{h.rank}">{image}<div>'
            f'<div><span class="score s{h.significance}">{h.significance}/10</span> '
            f'<span class="time">{esc(_span(h))}</span> <span class="windows">#{h.rank}'
            f" · windows {esc(', '.join(str(n) for n in h.windows))}</span></div>"
            f"<p>{esc(h.description)}</p></div></li>"
        )
    rows = []
    for w in result.windows:
        score = "-" if w.significance is None else str(w.significance)
        text = w.description if w.description is not None else f"(unscored) {w.raw[:120]}"
        rows.append(
            f'<tr><td>{w.number}</td><td class="time">{format_time(w.start_s)}-'
            f"{format_time(w.end_s)}</td><td>{score}</td><td>{esc(text)}</td></tr>"
        )
    notes = "".join(f'<p class="note">note: {esc(n)}</p>' for n in result.notes)
    empty = "" if items else "<p>No window reached the minimum significance.</p>"
    order = "time" if sort == "time" else "significance"
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>Highlights of {esc(title)}</title>\n<style>{_CSS}</style>\n</head>\n<body>\n"
        f"<h1>Highlights of {esc(title)}</h1>\n"
        f'<p class="meta">{len(result.highlights)} highlights from {len(result.windows)}'
        f" windows ({result.unscored} unscored) · profile {esc(result.profile.name)} ·"
        f" model {esc(result.model.name)} · sorted by {order}</p>\n{notes}\n"
        f'<ol class="highlights">\n{chr(10).join(items)}\n</ol>\n{empty}\n'
        "<h2>All windows</h2>\n<table>\n<thead><tr><th>#</th><th>time</th><th>score</th>"
        f"<th>description</th></tr></thead>\n<tbody>\n{chr(10).join(rows)}\n</tbody>\n"
        "</table>\n</body>\n</html>\n"
    )


def write_markdown(result: HighlightsResult, path: Path, sort: str = "score") -> Path:
    """Write the Markdown report atomically."""
    return atomic_write_text(path, markdown_text(result, sort))


def write_html(result: HighlightsResult, path: Path, sort: str = "score") -> Path:
    """Write the HTML report atomically."""
    return atomic_write_text(path, html_text(result, sort))
