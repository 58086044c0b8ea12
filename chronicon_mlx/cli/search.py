"""`chronicon-mlx search QUERY`: the described moments of every video in the library, best
first; as text, JSON, a results page, chapters or an editor's timeline."""

from __future__ import annotations

from pathlib import Path

import typer

from . import options
from .common import handle_errors
from .library import LIBRARY, open_library
from .render import Part, line, plural, print_saved, stderr_console, stdout_console


def search_command(
    query: str = typer.Argument(
        ..., help='Words, "a quoted phrase", or AND / OR / NOT.', metavar="QUERY"
    ),
    video: Path | None = options.value(
        None, "--video", help="Only this video's moments.", metavar="VIDEO", shown="every video"
    ),
    min_significance: int | None = options.value(
        None,
        "--min-significance",
        help="Only moments scored at least this.",
        metavar="N",
        shown="any",
    ),
    limit: int = options.value(20, "--limit", help="Most moments to show.", metavar="N"),
    html: Path | None = options.value(
        None,
        "--html",
        help="Also write a results page where every moment plays.",
        metavar="FILE",
        shown="off",
    ),
    export: Path | None = options.value(
        None,
        "--export",
        help="Also write the moments as chapters or a timeline, by the file's ending:"
        " .ffmetadata, .chapters.vtt, .youtube.txt, .edl, .otio.",
        metavar="FILE",
        shown="off",
    ),
    library: Path | None = LIBRARY,
    as_json: bool = options.JSON_RECORD,
) -> None:
    """Search the described moments of every video in the library, best first."""
    from ..errors import UsageError
    from ..text import json_text
    from ..timecodes import format_time

    console = stderr_console()
    with handle_errors(console):
        if limit < 1:
            raise UsageError("--limit must be at least 1", hint="try --limit 20")
        where = str(video) if video is not None else None
        found = open_library(library, create=False).search(query, where, min_significance, limit)
        saved: list[Path] = []
        if html is not None:
            from ..library.page import write_page

            saved.append(write_page(found, query, html.expanduser()))
        if export is not None:
            from ..library.exporting import export as write_export

            saved.append(write_export(found, export.expanduser(), query))
        if as_json:
            typer.echo(json_text([hit.to_dict() for hit in found]))
        else:
            out = stdout_console()
            for hit in found:
                score = "-" if hit.significance is None else f"{hit.significance}/10"
                span = f"{format_time(hit.start_s)}-{format_time(hit.end_s)}"
                out.print(line((hit.video, "bold"), "  ", span, "  ", (score, "cyan")))
                out.print(line("  ", *_marked(hit.description_parts())))
                if any(match for _, match in hit.speech_parts()):
                    out.print(line("  speech: ", *_marked(hit.speech_parts())))
                out.print(line("  ", (hit.link, "dim")))
        if not found:
            console.print(line(("no moment matches ", "dim"), query))
        else:
            console.print(line((plural(len(found), "moment"), "dim")))
        print_saved(console, saved)


def _marked(pieces: list[tuple[str, bool]]) -> list[Part]:
    return [(text, "bold yellow") if match else text for text, match in pieces]
