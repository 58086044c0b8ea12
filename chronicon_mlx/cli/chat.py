"""`chronicon-mlx chat VIDEO`: a conversation about one video, its frames read and encoded
once; questions from the terminal (line editing, history) or one per line from a pipe."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.console import Console

from ..errors import EXIT_FAILURE, ChroniconError, Terminated, UsageError
from ..files import atomic_write_text, check_writable
from ..media.sources import check_file
from ..options import profiles, userconfig
from ..options.choices import check_text
from ..progress import NullReporter
from ..text import json_text, printable
from . import options
from .common import handle_errors, open_session, run_configs
from .process import CLOSED
from .render import RichReporter, line, print_error, stderr_console

if TYPE_CHECKING:
    from ..analysis.conversation import VideoChat

COMMANDS = {
    "/reset": "forget the conversation (the video stays loaded)",
    "/help": "show these commands",
    "/quit": "end the chat (as Ctrl-D does)",
    "//...": "ask a question that starts with / (the first / is dropped)",
}
HISTORY_LINES = 1000
PROMPT = "> "


def chat_command(
    video: Path = options.VIDEO,
    frames: int | None = options.FRAMES,
    start: str | None = options.START,
    end: str | None = options.END,
    fps: float | None = options.FPS,
    sampling_strategy: str = options.SAMPLING,
    seek: str = options.SEEK,
    system: str | None = options.SYSTEM,
    resize: int | None = options.RESIZE,
    max_tokens: int | None = options.MAX_TOKENS,
    profile_name: str | None = options.PROFILE,
    profiles_file: Path | None = options.PROFILES_FILE,
    temperature: float = options.TEMPERATURE,
    seed: int | None = options.SEED,
    model: str | None = options.MODEL,
    backend: str | None = options.BACKEND,
    device: str | None = options.DEVICE,
    dtype: str | None = options.DTYPE,
    quantize: str | None = options.QUANTIZE,
    output: Path | None = options.value(
        None,
        "--output",
        "-o",
        metavar="FILE",
        help="Save the conversation as JSON here (rewritten after every answer).",
        shown="not saved",
    ),
    as_json: bool = options.flag("--json", help="Print each answer as one line of JSON."),
    no_cache: bool = options.NO_CACHE,
    speech: bool | None = options.SPEECH,
    speech_model: str | None = options.SPEECH_MODEL,
    audio_track: int | None = options.AUDIO_TRACK,
    quiet: bool = options.QUIET,
) -> None:
    """Ask one video questions, one after another; follow-ups see the earlier answers.

    Type a question and press Enter; /reset starts over with the same video, Ctrl-C stops
    an answer, Ctrl-D ends. From a pipe, each line is a question and each answer is printed
    on stdout.
    """
    console = stderr_console(quiet)
    with handle_errors(console):
        from ..analysis.conversation import VideoChat
        from ..analysis.params import HearingConfig
        from ..analysis.session import ModelSession

        defaults = userconfig.load()
        profile = profiles.get(profile_name, profiles_file) if profile_name else None
        pick = partial(userconfig.resolve, settings=defaults, profile=profile)
        system = pick(check_text(system, "system"), "system")
        sampling, generation = run_configs(
            pick,
            frames,
            start,
            end,
            fps,
            sampling_strategy,
            seek,
            resize,
            max_tokens,
            temperature,
            seed,
        )
        hearing = HearingConfig(speech=speech, track=audio_track)
        check_file(video)
        if 0 in CLOSED:
            raise UsageError(
                "standard input is closed: there are no questions to read",
                hint="type questions at a terminal, or pipe them in, one per line",
            )
        target = output.expanduser() if output is not None else None
        if target is not None:
            check_writable(target)
        reporter = RichReporter(console)
        session = open_session(
            ModelSession,
            defaults,
            reporter,
            model,
            backend,
            device,
            dtype,
            quantize,
            cache=not no_cache,
            speech_model=speech_model,
        )
        with reporter:
            chat = VideoChat.open(session, video, system, sampling, generation, hearing=hearing)
        chat.reporter = NullReporter()
        terminal = sys.stdin.isatty()
        if terminal and not quiet:
            console.print(line(("ready: ", "dim"), _ready(chat), (" (/help for commands)", "dim")))
        failed = _converse(
            chat, _typed() if terminal else _piped(), terminal, as_json, target, console
        )
        if failed:
            raise typer.Exit(EXIT_FAILURE)


def _ready(chat: VideoChat) -> str:
    video = chat.video
    return f"{len(video.frames)} frames of {printable(video.info.path.name)}"


def _converse(
    chat: VideoChat,
    questions: Iterator[str],
    terminal: bool,
    as_json: bool,
    target: Path | None,
    console: Console,
) -> int:
    """Answer each question in turn; return how many failed."""
    from ..analysis.result import turn_record

    failed = 0
    stream = terminal and sys.stdout.isatty() and not as_json
    for question in questions:
        if question in ("/quit", "/exit"):
            break
        if question.startswith("/") and not question.startswith("//"):
            _command(chat, question, console)
            continue
        question = question.removeprefix("/")  # "//..." asks "/..."
        pieces = _Printer() if stream else None
        try:
            answer = chat.ask(question, pieces)
        except KeyboardInterrupt as interrupt:
            if not terminal or isinstance(interrupt, Terminated):
                raise
            sys.stdout.write("\n")
            console.print(line(("answer interrupted", "yellow")))
            continue
        except ChroniconError as error:
            print_error(console, error)
            failed += 1
            continue
        if as_json:
            typer.echo(json_text({"turn": len(chat.turns), **turn_record(answer)}, indent=None))
        elif pieces is not None:
            sys.stdout.write("\n\n")
        else:
            typer.echo(printable(answer.text))
        sys.stdout.flush()
        if target is not None:
            atomic_write_text(target, json_text(chat.transcript()) + "\n")
    return failed


def _command(chat: VideoChat, text: str, console: Console) -> None:
    if text == "/reset":
        chat.reset()
        console.print(line(("conversation cleared; the video stays", "dim")))
    elif text == "/help":
        for name, meaning in COMMANDS.items():
            console.print(line((name, "bold"), f"  {meaning}"))
    else:
        print_error(
            console,
            UsageError(f"unknown command {text.split()[0]!r}", hint=", ".join(COMMANDS)),
        )


class _Printer:
    """Writes an answer to stdout as it is generated (without its leading space)."""

    def __init__(self) -> None:
        self.started = False

    def __call__(self, piece: str) -> None:
        text = printable(piece)
        if not self.started:
            text = text.lstrip()
            self.started = bool(text)
        sys.stdout.write(text)
        sys.stdout.flush()


def _piped() -> Iterator[str]:
    """Questions from stdin, one per line (blank lines skipped). Bytes that are not UTF-8
    stay in the question as escapes, which asking it then refuses with a clear line."""
    for raw in sys.stdin.buffer:
        text = raw.decode("utf-8", "surrogateescape").strip()
        if text:
            yield text


def _typed() -> Iterator[str]:
    """Questions typed at a terminal, with line editing and a history kept between chats;
    Ctrl-C clears the line, Ctrl-D ends."""
    history = _history()
    prompt = PROMPT if sys.stdout.isatty() else ""
    try:
        while True:
            if not prompt:
                sys.stderr.write(PROMPT)
                sys.stderr.flush()
            try:
                text = input(prompt).strip()
            except UnicodeDecodeError:
                sys.stderr.write("error: that line is not UTF-8 text; type it again\n")
                continue
            except Terminated:
                raise
            except KeyboardInterrupt:
                sys.stderr.write("\n")
                continue
            except EOFError:
                sys.stderr.write("\n")
                return
            if text:
                yield text
    finally:
        if history is not None:
            _save_history(history)


def _history() -> Path | None:
    """Turn on line editing and load the chat history (None where readline is missing, or
    where something other than the tool's own history file is in its place: a link, a
    FIFO, a device is never followed or read)."""
    try:
        import readline
    except ImportError:  # pragma: no cover - Windows without pyreadline
        return None
    from ..paths import cache_root

    path = cache_root() / "chat_history"
    readline.set_history_length(HISTORY_LINES)
    if path.is_symlink() or (path.exists() and not path.is_file()):
        return None
    with contextlib.suppress(OSError):
        readline.read_history_file(path)
    return path


def _save_history(path: Path) -> None:
    """Write the history beside its file and rename it into place (a link planted there
    meanwhile is replaced, never written through)."""
    import readline
    import tempfile

    with contextlib.suppress(OSError):
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, temporary = tempfile.mkstemp(prefix=".chat_history.", suffix=".tmp", dir=path.parent)
        os.close(fd)
        try:
            readline.write_history_file(temporary)
            os.replace(temporary, path)
        finally:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
