"""`chronicon-mlx cache`: what the video cache holds, and emptying it."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

from ..options import userconfig
from . import options
from .common import Command, Group, handle_errors
from .render import plural, size, stderr_console

if TYPE_CHECKING:
    from ..analysis.videocache import VideoCache

cache_app = typer.Typer(
    cls=Group, help="The video cache: frames' features and prefilled prompts kept between runs."
)


def _cache() -> VideoCache:
    from ..analysis.videocache import VideoCache

    return VideoCache.default(float(userconfig.load()["cache_gb"]))


@cache_app.command("info", cls=Command)
def cache_info(
    as_json: bool = options.flag("--json", help="Print JSON instead of text."),
) -> None:
    """Show where the video cache is, how much it holds and its limit (setting cache_gb)."""
    from ..text import json_text

    with handle_errors(stderr_console()):
        info = _cache().info()
        if as_json:
            data = {
                "path": str(info.root),
                "entries": info.entries,
                "bytes": info.bytes,
                "limit_bytes": info.limit_bytes,
            }
            typer.echo(json_text(data))
            return
        typer.echo(f"folder:  {info.root}")
        typer.echo(f"holds:   {plural(info.entries, 'entry', 'entries')}, {size(info.bytes)}")
        typer.echo(f"limit:   {size(info.limit_bytes)} (setting cache_gb)")


@cache_app.command("clear", cls=Command)
def cache_clear() -> None:
    """Remove every entry of the video cache (built checkpoints stay)."""
    with handle_errors(stderr_console()):
        removed = _cache().clear()
        entries = plural(removed.entries, "entry", "entries")
        typer.echo(f"removed {entries} ({size(removed.bytes)}) from {removed.root}")
