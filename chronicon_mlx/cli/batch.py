"""The per-video loop of `analyze` and `highlights`: one model load, failures reported and
skipped, a summary at the end."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import typer
from rich.console import Console

from ..errors import EXIT_FAILURE, UsageError, VideoError
from .render import RichReporter, line, print_error, stdout_console, summary_table


@dataclass(frozen=True)
class Row:
    """One video's line of the summary."""

    video: str
    duration_s: float | None
    seconds: float
    ok: bool
    detail: str

    def as_dict(self) -> dict[str, object]:
        """The row as the summary table reads it."""
        return {
            "video": self.video,
            "duration_s": self.duration_s,
            "seconds": self.seconds,
            "status": "ok" if self.ok else "failed",
            "detail": self.detail,
        }


Done = tuple[float, str]
"""What a video's work returns for its summary line: the video's duration and a detail."""


def run_each(
    videos: list[Path],
    work: Callable[[int, Path], Done],
    console: Console,
    reporter: RichReporter,
) -> list[Row]:
    """Run `work` on each video in turn (it gets the position and the path).

    With one video its errors propagate; with several, a video that cannot be read or used
    is reported (``error: name: ...``), recorded as failed, and the others go on.
    """
    rows: list[Row] = []
    many = len(videos) > 1
    for number, video in enumerate(videos):
        if many:
            console.print(
                line((f"{number + 1}/{len(videos)}", "bold"), " ", str(video)), soft_wrap=True
            )
        started = time.perf_counter()
        try:
            duration, detail = work(number, video)
            rows.append(Row(video.name, duration, time.perf_counter() - started, True, detail))
        except (VideoError, UsageError) as error:
            if not many:
                raise
            print_error(console, error, prefix=f"{video.name}: ")
            rows.append(Row(video.name, None, time.perf_counter() - started, False, error.message))
        finally:
            reporter.reset()
    return rows


def finish(rows: list[Row], console: Console, summary: bool) -> None:
    """Print the summary (with several videos) and exit 1 when any video failed."""
    if summary and len(rows) > 1:
        stdout_console().print(summary_table([row.as_dict() for row in rows]))
    failed = sum(1 for row in rows if not row.ok)
    if failed:
        console.print(line((f"{failed} of {len(rows)} videos failed", "red")))
        raise typer.Exit(EXIT_FAILURE)
