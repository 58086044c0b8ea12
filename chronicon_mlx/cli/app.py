"""The Typer application and the console-script entry point."""

from __future__ import annotations

import gc
import os
import sys
import warnings
from typing import Any

import typer

from .. import __version__
from ..errors import EXIT_CLOSED_PIPE, EXIT_INTERRUPTED, EXIT_TERMINATED, Terminated
from ..progress import quiet_libraries
from .analyze import analyze_command
from .bench import bench_command
from .cache import cache_app
from .chat import chat_command
from .common import Command, Group
from .config import config_app
from .describe import library_add
from .doctor import doctor_command
from .highlights import highlights_command
from .library import library_app
from .models import models_command
from .process import after_closed_pipe, guard_standard_streams, stop_on_sigterm
from .profiles import profiles_app
from .render import line, stderr_console
from .search import search_command
from .serve import serve_command


class Commands(Group):
    """The command group: a mistyped command or option is one red line and a hint (exit 2),
    and library warnings stay out of the terminal (``CHRONICON_DEBUG=1`` shows them)."""

    def main(self, *args: Any, standalone_mode: bool = True, **kwargs: Any) -> Any:
        """Run the command line; exit with its code (return it when not standalone)."""
        if not os.environ.get("CHRONICON_DEBUG"):
            warnings.simplefilter("ignore")
            quiet_libraries()
        guard_standard_streams()
        stop_on_sigterm()
        try:
            result = super().main(*args, **{**kwargs, "standalone_mode": False})
            code = result if isinstance(result, int) else 0
        except typer.TyperException as error:
            _usage_line(error)
            code = error.exit_code
        except typer.Abort:
            stderr_console().print(line(("interrupted", "yellow")))
            code = EXIT_INTERRUPTED
        except Terminated:
            stderr_console().print(line(("terminated", "yellow")))
            code = EXIT_TERMINATED
        except BrokenPipeError:
            after_closed_pipe()
            code = EXIT_CLOSED_PIPE
        if standalone_mode:
            sys.exit(code)
        return code


def _usage_line(error: typer.TyperException) -> None:
    console = stderr_console()
    console.print(line(("error:", "bold red"), " ", error.format_message()), soft_wrap=True)
    context = getattr(error, "ctx", None)
    command = context.command_path if context is not None else "chronicon-mlx"
    console.print(line((f"hint: see `{command} --help`", "dim")), soft_wrap=True)


app = typer.Typer(
    name="chronicon-mlx",
    cls=Commands,
    help="Understand videos locally with SmolVLM2 (MLX on Apple Silicon; CPU on Linux).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
app.command("analyze", cls=Command)(analyze_command)
app.command("highlights", cls=Command)(highlights_command)
app.command("chat", cls=Command)(chat_command)
app.command("serve", cls=Command)(serve_command)
app.command("search", cls=Command)(search_command)
app.add_typer(profiles_app, name="profiles")
app.add_typer(config_app, name="config")
app.add_typer(cache_app, name="cache")
library_app.command("add", cls=Command)(library_add)
app.add_typer(library_app, name="library")
app.command("doctor", cls=Command)(doctor_command)
app.command("models", cls=Command)(models_command)
app.command("bench", cls=Command)(bench_command)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"chronicon-mlx {__version__}")
        raise typer.Exit(0)


@app.callback()
def root(
    version: bool = typer.Option(
        False,
        "--version",
        help="Show the version and exit.",
        is_eager=True,
        callback=_version,
        metavar="",
    ),
) -> None:
    """Understand videos locally with SmolVLM2."""


def main() -> None:
    """Console-script entry point."""
    try:
        app()
    finally:
        # The process ends here: spare it a last garbage collection over a heap of torch and
        # transformers objects (about 0.8 s with a model loaded); everything is still
        # finalized, and every output was written and flushed before.
        gc.freeze()
