"""`chronicon-mlx config`: where the config file is, and the settings in effect."""

from __future__ import annotations

import json

import typer
from rich.table import Table

from .. import paths
from ..options import userconfig as settings
from . import options
from .common import Command, Group, handle_errors
from .render import cell, line, stderr_console, stdout_console

config_app = typer.Typer(cls=Group, help="The config file: its path and the settings in effect.")


@config_app.command("path", cls=Command)
def config_path() -> None:
    """Print the config file's path (it need not exist)."""
    typer.echo(str(paths.config_path()))


@config_app.command("show", cls=Command)
def config_show(
    as_json: bool = options.flag("--json", help="Print JSON instead of a table."),
) -> None:
    """Show every setting's value and where it came from (built-in or the file)."""
    with handle_errors(stderr_console()):
        current = settings.load()
        if as_json:
            data = {
                "path": str(current.path),
                "exists": current.path.is_file(),
                "settings": {
                    key: {"value": current.values[key], "source": current.sources[key]}
                    for key in settings.SETTINGS
                },
            }
            typer.echo(json.dumps(data, indent=2))
            return
        exists = "" if current.path.is_file() else " (not created yet)"
        table = Table(title="Settings", caption=line(f"config file: {current.path}{exists}"))
        for column in ("setting", "value", "from", "meaning"):
            table.add_column(column)
        for key, setting in settings.SETTINGS.items():
            value = current.values[key]
            shown = ",".join(value) if isinstance(value, list) else str(value)
            table.add_row(key, cell(shown), cell(current.sources[key]), setting.help)
        stdout_console().print(table)
