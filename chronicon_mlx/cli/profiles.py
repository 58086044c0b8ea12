"""`chronicon-mlx profiles`: the prompt profiles, built in and from the user's file."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.table import Table

from ..options import profiles
from . import options
from .common import Command, Group, handle_errors
from .render import cell, line, stderr_console, stdout_console

profiles_app = typer.Typer(
    cls=Group, help="List the prompt profiles, or show one.", invoke_without_command=True
)


@profiles_app.callback()
def list_profiles(
    ctx: typer.Context,
    profiles_file: Path | None = options.PROFILES_FILE,
    as_json: bool = options.flag("--json", help="Print JSON instead of a table."),
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
            caption=line(f"user file: {profiles_file or profiles.default_profiles_file()}"),
        )
        table.add_column("name", no_wrap=True)
        table.add_column("description", ratio=3, overflow="fold")
        table.add_column("defaults", no_wrap=True)
        table.add_column("source", ratio=1, overflow="fold")
        for profile in known.values():
            default = "\n(default)" if profile.name == profiles.DEFAULT_PROFILE else ""
            defaults = (
                f"{profile.frames} frames, {profile.max_tokens} tokens\n"
                f"windows {profile.window:g} s / {profile.overlap:g} s\n"
                f"{profile.frames_per_window} frames per window"
            )
            table.add_row(
                line(profile.name + default),
                cell(profile.description),
                defaults,
                cell(profile.source),
            )
        stdout_console().print(table)


@profiles_app.command("show", cls=Command)
def show_profile(
    name: str = typer.Argument(..., help="The profile's name.", metavar="NAME"),
    profiles_file: Path | None = options.PROFILES_FILE,
    as_json: bool = options.flag("--json", help="Print JSON."),
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
