"""What every command shares: error handling and exit codes."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, TypeVar

import typer
from rich.console import Console
from typer.core import TyperCommand, TyperGroup

from ..errors import EXIT_FAILURE, EXIT_INTERRUPTED, ChroniconError
from ..options import userconfig
from .render import RichReporter, line, print_error

if TYPE_CHECKING:
    from ..analysis.session import ModelSession

_Session = TypeVar("_Session", bound="ModelSession")


class _FlagHelp:
    """--help is a flag: no value tag beside it in the help."""

    def get_help_option(self, ctx: Any) -> Any:
        """The help option, shown without a value tag."""
        option = super().get_help_option(ctx)  # type: ignore[misc]
        if option is not None:
            option.metavar = ""
        return option


class Command(_FlagHelp, TyperCommand):
    """A command whose help shows flags as flags."""


class Group(_FlagHelp, TyperGroup):
    """A command group whose help shows flags as flags."""


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
        console.print(line(("interrupted", "yellow")))
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


def open_session(
    kind: type[_Session],
    settings: userconfig.Settings,
    reporter: RichReporter,
    model: str | None,
    backend: str | None,
    device: str | None,
    dtype: str | None,
    quantize: str | None,
) -> _Session:
    """A model session from the flags, falling back to the config file and built-ins."""
    return kind(
        model=userconfig.resolve(model, "model", settings),
        backend=userconfig.resolve(backend, "backend", settings),
        device=userconfig.resolve(device, "device", settings),
        dtype=userconfig.resolve(dtype, "dtype", settings),
        quantize=quantize or "auto",  # type: ignore[arg-type]
        reporter=reporter,
    )
