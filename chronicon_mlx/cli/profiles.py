"""`chronicon-mlx profiles`: the prompt profiles, built in and from the user's file."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from ..options import profiles
from . import options
from .common import handle_errors
from .render import stderr_console

profiles_app = typer.Typer(
    help="List the prompt profiles, or show one.", invoke_without_command=True
)


@profiles_app.callback()
def list_profiles(
    ctx: typer.Context,
    profiles_file: Path | None = options.PROFILES_FILE,
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
) -> None:
    """List the prompt profiles (built in, and from the profiles file)."""
    if ctx.invoked_subcommand is not None:
        return
    with handle_errors(stderr_console()):
        known = profiles.load(profiles_file)
        if as_json:
            typer.echo(json.dumps([profiles.to_dict(p) for p in known.values()], indent=2))
            return
        table = Table(
            title="Prompt profiles",
            caption=f"user file: {profiles_file or profiles.default_profiles_file()}",
        )
        for column in ("name", "description", "frames", "window / overlap", "per window", "source"):
            table.add_column(column)
        for profile in known.values():
            table.add_row(
                profile.name + (" (default)" if profile.name == profiles.DEFAULT_PROFILE else ""),
                profile.description,
                str(profile.frames),
                f"{profile.window:g} s / {profile.overlap:g} s",
                str(profile.frames_per_window),
                profile.source,
            )
        Console().print(table)


@profiles_app.command("show")
def show_profile(
    name: str = typer.Argument(..., help="The profile's name."),
    profiles_file: Path | None = options.PROFILES_FILE,
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Print one profile: its prompts, rubric and defaults."""
    with handle_errors(stderr_console()):
        profile = profiles.get(name, profiles_file)
        data = profiles.to_dict(profile)
        if as_json:
            typer.echo(json.dumps(data, indent=2))
            return
        for key, value in data.items():
            typer.echo(f"{key}: {value}")
