"""`chronicon-mlx serve`: an OpenAI-compatible API over one loaded model."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import typer
from rich.console import Console

from ..errors import UsageError, field
from ..options import userconfig
from ..paths import cache_root
from ..text import printable
from . import options
from .common import handle_errors, session_spec
from .library import LIBRARY, library_path
from .render import line, stderr_console


def serve_command(
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on.", metavar="HOST"),
    port: int = typer.Option(8000, "--port", help="Port to listen on.", metavar="PORT"),
    model: str | None = options.MODEL,
    backend: str | None = options.BACKEND,
    device: str | None = options.DEVICE,
    dtype: str | None = options.DTYPE,
    quantize: str | None = options.QUANTIZE,
    api_key: str | None = typer.Option(
        None,
        "--api-key",
        help="Key clients send as 'Authorization: Bearer KEY' (default: CHRONICON_API_KEY);"
        " required to listen beyond this machine.",
        metavar="KEY",
        show_default=False,
    ),
    media_root: list[Path] = typer.Option(
        [],
        "--media-root",
        help="A folder whose videos and images requests may name (repeatable); without one,"
        " requests send media as data: URLs.",
        metavar="DIR",
        show_default=False,
    ),
    max_batch: int = typer.Option(8, "--max-batch", help="Requests decoded together.", min=1),
    max_queue: int = typer.Option(
        32, "--max-queue", help="Requests waiting at most, beyond the batch's free places.", min=0
    ),
    max_upload_mb: int = typer.Option(200, "--max-upload-mb", help="Largest upload.", min=1),
    max_frames: int = typer.Option(
        32, "--max-frames", help="Most frames a request may ask.", min=1
    ),
    max_tokens: int = typer.Option(
        1024, "--max-tokens", help="Most tokens a request may ask.", min=1
    ),
    jobs: Path | None = typer.Option(
        None,
        "--jobs",
        help="Folder of highlights jobs (kept across restarts).",
        metavar="DIR",
        show_default="the cache's serve-jobs",
    ),
    library: Path | None = LIBRARY,
) -> None:
    """Serve the model over an OpenAI-compatible HTTP API, batching concurrent requests.

    Chat completions with video, models, health, metrics, highlights jobs and library
    search; concurrent requests are batched on the cpu engine.
    """
    from ..serve.prepare import Caps
    from ..serve.server import serve
    from ..serve.state import ServeSettings

    console = stderr_console()
    with handle_errors(console):
        defaults = userconfig.load()
        spec = session_spec(defaults, model, backend, device, dtype, quantize, cache=True)
        roots = []
        for root in media_root:
            if not root.expanduser().is_dir():
                raise UsageError(
                    f"{printable(str(root))} is not a folder", hint=f"check {field('media-root')}"
                )
            roots.append(root.expanduser())
        settings = ServeSettings(
            spec=spec,
            host=host,
            port=port,
            api_key=api_key or os.environ.get("CHRONICON_API_KEY") or None,
            media_roots=tuple(roots),
            max_batch=max_batch,
            max_queue=max_queue,
            max_upload_mb=max_upload_mb,
            caps=Caps(max_frames=max_frames, max_tokens=max_tokens),
            jobs_folder=jobs or cache_root() / "serve-jobs",
            library=library_path(library),
        )
        serve(settings, _logger(console))
        console.print(line(("stopped", "yellow")))


def _logger(console: Console) -> Callable[[str], None]:
    def log(message: str) -> None:
        console.print(line(printable(message)), soft_wrap=True, highlight=False)

    return log
