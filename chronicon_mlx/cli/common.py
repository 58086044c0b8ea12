"""What every command shares: error handling and exit codes."""

from __future__ import annotations

import inspect
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, cast

import typer
from rich.console import Console
from typer.core import TyperCommand, TyperGroup

from ..analysis.params import GenerationConfig, SamplingConfig
from ..errors import (
    EXIT_CLOSED_PIPE,
    EXIT_FAILURE,
    EXIT_INTERRUPTED,
    EXIT_TERMINATED,
    ChroniconError,
    Terminated,
)
from ..options import choices, userconfig
from ..timecodes import parse_time
from .process import after_closed_pipe
from .render import RichReporter, line, print_error

if TYPE_CHECKING:
    from ..analysis.session import ModelSession
    from ..analysis.spec import SessionSpec

_Session = TypeVar("_Session", bound="ModelSession")


def reflowed(text: str | None) -> str | None:
    """Help text with each paragraph on one line (the help display wraps it to the
    terminal's width; a docstring's own line breaks would stay as breaks mid-sentence)."""
    if text is None:
        return None
    paragraphs = inspect.cleandoc(text).split("\n\n")
    return "\n\n".join(" ".join(part.split()) for part in paragraphs)


class _FlagHelp:
    """--help is a flag: no value tag beside it in the help; help paragraphs reflowed."""

    help: str | None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.help = reflowed(self.help)

    def get_help_option(self, ctx: Any) -> Any:
        """The help option, shown without a value tag."""
        option = super().get_help_option(ctx)  # type: ignore[misc]
        if option is not None:
            option.metavar = ""
        return option


OPTIONAL_VALUES = {"--ray": "local"}
"""Options whose value may be left out, and the value they take then."""


def with_optional_values(args: list[str]) -> list[str]:
    """`args` with each option of OPTIONAL_VALUES given its implied value when no value
    follows it (the end, another option, or an existing file or folder: a video)."""
    out: list[str] = []
    for number, arg in enumerate(args):
        if arg == "--":
            return out + args[number:]
        implied = OPTIONAL_VALUES.get(arg)
        if implied is not None:
            following = args[number + 1] if number + 1 < len(args) else None
            if following is None or following.startswith("-") or Path(following).exists():
                arg = f"{arg}={implied}"
        out.append(arg)
    return out


class Command(_FlagHelp, TyperCommand):
    """A command whose help shows flags as flags, and whose OPTIONAL_VALUES options may be
    given without a value."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        """Parse the arguments, the values left out of OPTIONAL_VALUES options filled in."""
        parsed: list[str] = super().parse_args(ctx, with_optional_values(args))
        return parsed


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
    except Terminated:
        console.print(line(("terminated", "yellow")))
        raise typer.Exit(EXIT_TERMINATED) from None
    except KeyboardInterrupt:
        console.print(line(("interrupted", "yellow")))
        raise typer.Exit(EXIT_INTERRUPTED) from None
    except BrokenPipeError:
        after_closed_pipe()
        raise typer.Exit(EXIT_CLOSED_PIPE) from None
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
    cache: bool = False,
    speech_model: str | None = None,
) -> _Session:
    """A model session from the flags, falling back to the config file and built-ins; with
    `cache`, one that keeps videos in the video cache (unless its size is set to 0)."""
    spec = session_spec(settings, model, backend, device, dtype, quantize, cache, speech_model)
    return kind(spec, reporter=reporter)


def session_spec(
    settings: userconfig.Settings,
    model: str | None,
    backend: str | None,
    device: str | None,
    dtype: str | None,
    quantize: str | None,
    cache: bool = False,
    speech_model: str | None = None,
) -> SessionSpec:
    """The session settings from the flags, the config file and the built-ins (a model
    folder made absolute, so that workers elsewhere find it too)."""
    from ..analysis.spec import SessionSpec
    from ..model.resolver import looks_like_path

    chosen = str(userconfig.resolve(model, "model", settings))
    if looks_like_path(chosen):
        chosen = str(Path(chosen).expanduser().absolute())
    return SessionSpec(
        model=chosen,
        backend=userconfig.resolve(backend, "backend", settings),
        device=userconfig.resolve(device, "device", settings),
        dtype=userconfig.resolve(dtype, "dtype", settings),
        quantize=cast(choices.Quantize, quantize or "auto"),
        cache_gb=float(settings["cache_gb"]) if cache else 0.0,
        speech_model=str(userconfig.resolve(speech_model, "speech_model", settings)),
    )


def run_configs(
    pick: Callable[[Any, str], Any],
    frames: int | None,
    start: str | None,
    end: str | None,
    fps: float | None,
    strategy: str,
    seek: str,
    resize: int | None,
    max_tokens: int | None,
    temperature: float,
    seed: int | None,
) -> tuple[SamplingConfig, GenerationConfig]:
    """How frames are sampled and answers generated, from the flags (`pick` fills what a
    flag leaves open from the profile, the config file or the built-in default)."""
    sampling = SamplingConfig(
        frames=pick(frames, "frames"),
        resize=resize,
        start_s=parse_time(start, "start_s") if start is not None else 0.0,
        end_s=parse_time(end, "end_s") if end is not None else None,
        fps=fps,
        seek=cast(choices.Seek, seek),
        strategy=cast(choices.Strategy, strategy),
    )
    generation = GenerationConfig(
        max_tokens=pick(max_tokens, "max_tokens"), temperature=temperature, seed=seed
    )
    return sampling, generation
