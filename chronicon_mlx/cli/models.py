"""`chronicon-mlx models`: the known SmolVLM2 models, one block each (readable at 80
columns, Hub ids never cut)."""

from __future__ import annotations

import json
from typing import Any

import typer
from rich.console import Group
from rich.text import Text

from .. import machine
from ..model.catalog import RANDOM_ALIASES
from . import options
from .common import handle_errors
from .render import line, stderr_console, stdout_console


def models_view(rows: list[dict[str, Any]], summary: str) -> Group:
    """Each model as a short block: alias and name, Hub ids on lines of their own, cost,
    where it runs here, whether it is cached."""
    blocks: list[Text] = [line(("SmolVLM2 models", "bold"), f" (this machine: {summary})")]
    for row in rows:
        needs = "/".join(f"{v:.1f}" for v in row["memory_needed_gb"].values())
        runs = ", ".join(row["backends"]) or "nothing here"
        default = " (default)" if row["default"] else ""
        blocks += [
            Text(""),
            line((row["alias"], "bold cyan"), default, f"  {row['name']}, {row['parameters']}"),
            line("  ", (row["note"], "italic")),
            line("  transformers: ", row["hub_id"]),
            line("  MLX:          ", row["mlx_hub_id"]),
            line(
                f"  {row['tokens_per_frame']} tokens/frame · card ~{row['memory_gb']:.1f} GB"
                f" · needs {needs} GB (fp32/bf16/8b/4b)"
            ),
            line(f"  runs here on: {runs} · cached: ", ("yes", "green") if row["cached"] else "no"),
        ]
    offline = ", ".join(RANDOM_ALIASES)
    blocks += [
        Text(""),
        line(
            ("offline: ", "bold"),
            f"{offline} build a checkpoint with random weights on first use (no Hub needed;"
            " the answers are noise). Try: chronicon-mlx analyze clip.mp4 --model tiny-random",
        ),
    ]
    return Group(*blocks)


def show_models(as_json: bool = False) -> None:
    """Print the models (or JSON) to stdout."""
    from ..tools.inventory import catalog

    rows = catalog()
    if as_json:
        data = {
            "models": rows,
            "random_weight_models": list(RANDOM_ALIASES),
            "machine": {
                "memory_bytes": machine.total_memory_bytes(),
                "summary": machine.describe(),
            },
        }
        typer.echo(json.dumps(data, indent=2))
        return
    stdout_console().print(models_view(rows, machine.describe()), soft_wrap=False)


def models_command(
    as_json: bool = options.flag("--json", help="Print JSON instead of a table."),
) -> None:
    """List the SmolVLM2 models: aliases, Hub ids, cost per frame, memory, cache status."""
    with handle_errors(stderr_console()):
        show_models(as_json)
