"""`chronicon-mlx search` and `chronicon-mlx library`: the moments of every described video,
searched across videos."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

from . import options
from .common import Command, Group, handle_errors
from .render import line, plural, stderr_console, stdout_console

if TYPE_CHECKING:
    from ..library.store import Library

LIBRARY = options.value(
    None,
    "--library",
    help="The library database.",
    metavar="PATH",
    shown="library.db in the data folder",
)

library_app = typer.Typer(
    cls=Group, help="The video library: described moments of every video, searchable."
)


def open_library(path: Path | None) -> Library:
    """The library at `path` (else the default one)."""
    from ..library.store import Library

    return Library.open(path)


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
    library: Path | None = LIBRARY,
    as_json: bool = options.JSON_RECORD,
) -> None:
    """Search the described moments of every video in the library, best first."""
    from ..text import json_text
    from ..timecodes import format_time

    with handle_errors(stderr_console()):
        where = str(video) if video is not None else None
        found = open_library(library).search(query, where, min_significance, limit)
        if as_json:
            typer.echo(json_text([hit.to_dict() for hit in found]))
            return
        console = stdout_console()
        if not found:
            stderr_console().print(line(("no moment matches ", "dim"), query))
        for hit in found:
            score = "-" if hit.significance is None else f"{hit.significance}/10"
            span = f"{format_time(hit.start_s)}-{format_time(hit.end_s)}"
            console.print(line((hit.video, "bold"), "  ", span, "  ", (score, "cyan")))
            console.print(line("  ", hit.marked))
            console.print(line("  ", (hit.link, "dim")))


@library_app.command("list", cls=Command)
def library_list(library: Path | None = LIBRARY) -> None:
    """List the library's videos and how many moments each holds."""
    from ..timecodes import format_time

    with handle_errors(stderr_console()):
        store = open_library(library)
        console = stdout_console()
        for path, duration, moments in store.videos():
            console.print(line(path, "  ", format_time(duration), "  ", plural(moments, "moment")))
        stderr_console().print(line((f"library: {store.path}", "dim")))


@library_app.command("prune", cls=Command)
def library_prune(library: Path | None = LIBRARY) -> None:
    """Forget the videos whose files are gone."""
    with handle_errors(stderr_console()):
        gone = open_library(library).prune()
        for path in gone:
            typer.echo(f"forgot {path}")
        typer.echo(f"{plural(len(gone), 'video')} forgotten")
