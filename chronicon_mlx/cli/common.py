"""What every command shares: error handling and exit codes."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

import typer
from rich.console import Console

from ..errors import EXIT_FAILURE, EXIT_INTERRUPTED, ChroniconError
from .render import print_error


@contextmanager
def handle_errors(console: Console) -> Iterator[None]:
    """Turn expected errors into one line + hint and an exit code; Ctrl-C into exit 130.

    Unexpected exceptions show one line too, unless CHRONICON_DEBUG is set.
    """
    try:
        yield
    except ChroniconError as error:
        print_error(console, error)
        raise typer.Exit(error.exit_code) from None
    except KeyboardInterrupt:
        console.print("[yellow]interrupted[/]")
        raise typer.Exit(EXIT_INTERRUPTED) from None
    except (typer.Exit, typer.Abort):
        raise
    except Exception as error:
        if os.environ.get("CHRONICON_DEBUG"):
            raise
        print_error(
            console,
            ChroniconError(
                f"unexpected {type(error).__name__}: {error}",
                hint="rerun with CHRONICON_DEBUG=1 to see the traceback, and please report it",
            ),
        )
        raise typer.Exit(EXIT_FAILURE) from None
