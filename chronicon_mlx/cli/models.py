"""`chronicon-mlx models`: the known SmolVLM2 models."""

from __future__ import annotations

import json

import typer

from .. import machine
from .common import handle_errors
from .render import models_table, stderr_console


def show_models(as_json: bool = False) -> None:
    """Print the model table (or JSON) to stdout."""
    from rich.console import Console

    from ..tools.inventory import catalog

    rows = catalog()
    if as_json:
        data = {
            "models": rows,
            "machine": {
                "memory_bytes": machine.total_memory_bytes(),
                "summary": machine.describe(),
            },
        }
        typer.echo(json.dumps(data, indent=2))
        return
    Console().print(models_table(rows, machine.describe()))


def models_command(
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
) -> None:
    """List the SmolVLM2 models: aliases, Hub ids, cost per frame, memory, cache status."""
    with handle_errors(stderr_console()):
        show_models(as_json)
