"""Rich rendering: progress on stderr, tables, errors. Text that is not ours (paths, model
answers, profile and config values) is shown literally, never read as markup."""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    Task,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table
from rich.text import Text

from ..analysis.result import AnalysisResult
from ..errors import ChroniconError
from ..text import one_line, printable
from .flags import FLAGS

STAGE_LABELS = {
    "probe": "Probe video",
    "sample": "Sample frames",
    "import": "Import libraries",
    "cache": "Video cache",
    "load": "Load model",
    "preprocess": "Preprocess",
    "vision": "Vision encoder",
    "prefill": "Prefill (vision + prompt)",
    "generate": "Generate",
    "windows": "Score windows",
}
# The progress line for "prefill" runs until the first token; the table splits it.
TABLE_LABELS = {"prefill": "Prefill (prompt)"}
# Stages whose text is a status line (replaced each time), not streamed tokens.
STATUS_STAGES = frozenset({"windows"})

Part = str | tuple[str, str]


def line(*parts: Part) -> Text:
    """Plain text from parts (a string, or a (string, style) pair), nothing read as markup."""
    out = Text()
    for part in parts:
        text, style = (part, "") if isinstance(part, str) else part
        out.append(printable(text), style=style)
    return out


def cell(value: object) -> Text:
    """A table cell holding `value` literally, on one line."""
    return Text(one_line(str(value)))


def plural(count: int, word: str, words: str | None = None) -> str:
    """ "1 window", "2 windows"."""
    return f"{count} {word if count == 1 else words or word + 's'}"


def size(count: int) -> str:
    """Bytes in kB, MB or GB ("31.2 MB")."""
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if count >= scale:
            return f"{count / scale:.1f} {unit}"
    return f"{count} bytes"


class EtaColumn(TimeRemainingColumn):
    """Time remaining, shown only for stages with a known length that are still running."""

    def render(self, task: Task) -> Text:
        """ETA text, or nothing."""
        if task.total is None or task.finished or not task.completed:
            return Text("")
        return Text("ETA ", style="progress.remaining") + super().render(task)


def stderr_console(quiet: bool = False) -> Console:
    """The console for progress, notes and errors (stdout stays for answers and JSON)."""
    return Console(stderr=True, quiet=quiet, no_color="NO_COLOR" in os.environ or None)


def stdout_console() -> Console:
    """The console for tables on stdout."""
    return Console(no_color="NO_COLOR" in os.environ or None)


def print_error(console: Console, error: ChroniconError, prefix: str = "") -> None:
    """One red line with the message, one dim line with the hint (shown even when quiet);
    settings are named by their flags."""
    message, hint = error.rendered(FLAGS)
    was_quiet, console.quiet = console.quiet, False
    console.print(line(("error:", "bold red"), " ", prefix, message), soft_wrap=True)
    if hint:
        console.print(line((f"hint: {hint}", "dim")), soft_wrap=True)
    console.quiet = was_quiet


def print_saved(console: Console, paths: Iterable[object]) -> None:
    """A dim "saved <path>" line per file written."""
    for path in paths:
        console.print(line((f"saved {path}", "dim")), soft_wrap=True)


class RichReporter:
    """A Reporter that shows each stage as a line of a Rich progress display."""

    def __init__(self, console: Console, verbose: bool = False) -> None:
        self.field_names = FLAGS
        self.console = console
        self.verbose = verbose
        self.progress = self._new_progress()
        self.tasks: dict[str, TaskID] = {}
        self.streamed: dict[str, str] = {}

    def _new_progress(self) -> Progress:
        return Progress(
            SpinnerColumn(finished_text=Text("✓", style="green")),
            TextColumn("{task.description}", markup=False),
            BarColumn(bar_width=24),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            EtaColumn(),
            TextColumn("{task.fields[tail]}", markup=False, style="dim"),
            console=self.console,
            transient=False,
            disable=not self.console.is_terminal or self.console.quiet,
        )

    def reset(self) -> None:
        """Start a fresh set of stage lines (for the next video of a batch)."""
        self.progress = self._new_progress()
        self.tasks = {}
        self.streamed = {}

    def __enter__(self) -> RichReporter:
        self.progress.start()
        return self

    def __exit__(self, exc_type: object, *exc: object) -> None:
        if exc_type is not None:
            self.progress.live.transient = True
        self.progress.stop()

    def stage_started(self, stage: str, total: int | None = None) -> None:
        """Add a line for the stage."""
        label = STAGE_LABELS.get(stage, stage)
        if stage in self.tasks:
            self.progress.reset(self.tasks[stage], total=total)
            return
        self.tasks[stage] = self.progress.add_task(label, total=total, tail="")

    def stage_advanced(self, stage: str, advance: int = 1, text: str | None = None) -> None:
        """Move the stage's bar; in verbose mode show the latest streamed text."""
        task = self.tasks.get(stage)
        if task is None:
            return
        if text and stage in STATUS_STAGES:
            self.progress.update(task, advance=advance, tail=one_line(text))
        elif text and self.verbose:
            self.streamed[stage] = self.streamed.get(stage, "") + text
            self.progress.update(task, advance=advance, tail=one_line(self.streamed[stage])[-48:])
        else:
            self.progress.update(task, advance=advance)

    def stage_finished(self, stage: str, seconds: float) -> None:
        """Mark the stage done."""
        task = self.tasks.get(stage)
        if task is None:
            return
        done = self.progress.tasks[task].completed or 1
        self.progress.update(task, total=done, completed=done)
        self.progress.stop_task(task)

    def note(self, message: str) -> None:
        """A yellow note above the progress lines."""
        self.console.print(line(("note:", "yellow"), " ", message), soft_wrap=True)


def timing_table(result: AnalysisResult) -> Table:
    """Each stage's time, tokens and tokens/s; the run's facts in the caption, one per line."""
    table = Table(title="Timing", title_justify="left", caption_justify="left")
    table.add_column("stage")
    table.add_column("seconds", justify="right")
    table.add_column("tokens", justify="right")
    table.add_column("tokens/s", justify="right")
    usage = result.usage
    tokens = {"prefill": usage.prompt_tokens, "generate": usage.generated_tokens}
    rates = {"prefill": usage.prompt_tps, "generate": usage.generation_tps}
    for stage, seconds in result.stages.items():
        count = tokens.get(stage)
        rate = rates.get(stage)
        table.add_row(
            TABLE_LABELS.get(stage) or STAGE_LABELS.get(stage, stage),
            f"{seconds:.3f}",
            str(count) if count is not None else "",
            f"{rate:.1f}" if rate else "",
        )
    table.add_row(Text("total", style="bold"), Text(f"{result.total_time:.3f}", style="bold"))
    details = result.backend_details
    facts = [
        f"{result.backend} on {result.device} ({result.dtype})",
        f"{plural(len(result.frames), 'frame')}, peak memory {usage.peak_memory_gb:.3f} GB",
    ]
    if "blas" in details:
        facts.append(f"BLAS {details['blas']}")
    if details.get("vision_streams", "1") != "1":
        facts.append(f"vision on {details['vision_streams']} streams")
    table.caption = Text(printable("\n".join(facts)))
    return table


def summary_table(rows: list[dict[str, Any]]) -> Table:
    """One line per video of a batch: duration, time taken, status, first line of the answer."""
    table = Table(title="Summary", title_justify="left")
    for column in ("video", "duration", "seconds", "status", "answer / error"):
        right = column in ("duration", "seconds")
        table.add_column(column, justify="right" if right else "left", overflow="fold")
    for row in rows:
        duration = row["duration_s"]
        ok = row["status"] == "ok"
        table.add_row(
            cell(row["video"]),
            "" if duration is None else f"{duration:.1f} s",
            f"{row['seconds']:.1f}",
            Text("ok", style="green") if ok else Text("failed", style="red"),
            Text(one_line(str(row["detail"]))[:160], no_wrap=True, overflow="ellipsis"),
        )
    return table
