"""`chronicon-mlx library list|prune|import`: the library's videos, kept true to the files."""

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


def library_path(path: Path | None) -> Path:
    """`path`, else the config file's library, else library.db in the data folder."""
    from ..library.store import DEFAULT_NAME
    from ..options import userconfig
    from ..paths import data_dir

    configured = str(userconfig.load()["library"])
    chosen = path if path is not None else (Path(configured) if configured else None)
    return chosen.expanduser() if chosen is not None else data_dir() / DEFAULT_NAME


def open_library(path: Path | None, create: bool = True) -> Library:
    """The library at `path` (see `library_path`), created on first use; without
    `create`, a library that does not exist yet is a usage error (nothing is made)."""
    from ..errors import UsageError
    from ..library.store import Library

    where = library_path(path)
    if not create and not where.exists():
        raise UsageError(
            f"there is no library at {where} yet",
            hint="fill it with `chronicon-mlx library add VIDEOS`, or pass --library",
        )
    return Library.open(where)


@library_app.command("list", cls=Command)
def library_list(library: Path | None = LIBRARY) -> None:
    """List the library's videos and how many moments each holds."""
    from ..timecodes import format_time

    with handle_errors(stderr_console()):
        store = open_library(library, create=False)
        console = stdout_console()
        for path, duration, moments in store.videos():
            console.print(line(path, "  ", format_time(duration), "  ", plural(moments, "moment")))
        stderr_console().print(line((f"library: {store.path}", "dim")))


@library_app.command("prune", cls=Command)
def library_prune(library: Path | None = LIBRARY) -> None:
    """Forget the videos whose files are gone."""
    with handle_errors(stderr_console()):
        gone = open_library(library, create=False).prune()
        for path in gone:
            typer.echo(f"forgot {path}")
        typer.echo(f"{plural(len(gone), 'video')} forgotten")


@library_app.command("import", cls=Command)
def library_import(
    folder: Path = typer.Argument(
        ...,
        help="A folder of earlier runs' JSON records (searched with its subfolders).",
        metavar="FOLDER",
    ),
    library: Path | None = LIBRARY,
    quiet: bool = options.QUIET,
) -> None:
    """Store the highlights and analysis records found under a folder."""
    from ..errors import UsageError
    from ..library.importing import import_folder

    console = stderr_console(quiet)
    with handle_errors(console):
        if not folder.is_dir():
            raise UsageError(f"{folder} is not a folder", hint="give the folder of the runs")
        store = open_library(library)
        added = records = 0
        for outcome in import_folder(store, folder):
            if outcome.skipped is None:
                records += 1
                added += outcome.added
                found = line(str(outcome.path), "  ", plural(outcome.added, "moment"))
                console.print(found, soft_wrap=True)
            else:
                skipped = line((f"{outcome.path}: skipped, {outcome.skipped}", "dim"))
                console.print(skipped, soft_wrap=True)
        typer.echo(f"{plural(records, 'record')} imported, {plural(added, 'moment')} added")
