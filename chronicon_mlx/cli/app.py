"""The Typer application and the console-script entry point."""

from __future__ import annotations

import typer

from .. import __version__
from .analyze import analyze_command
from .bench import bench_command
from .config import config_app
from .doctor import doctor_command
from .highlights import highlights_command
from .models import models_command
from .profiles import profiles_app

app = typer.Typer(
    name="chronicon-mlx",
    help="Understand videos locally with SmolVLM2 (MLX on Apple Silicon; CPU on Linux).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
app.command("analyze")(analyze_command)
app.command("highlights")(highlights_command)
app.add_typer(profiles_app, name="profiles")
app.add_typer(config_app, name="config")
app.command("doctor")(doctor_command)
app.command("models")(models_command)
app.command("bench")(bench_command)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"chronicon-mlx {__version__}")
        raise typer.Exit(0)


@app.callback()
def root(
    version: bool = typer.Option(
        False, "--version", help="Show the version and exit.", is_eager=True, callback=_version
    ),
) -> None:
    """Understand videos locally with SmolVLM2."""


def main() -> None:
    """Console-script entry point."""
    app()
