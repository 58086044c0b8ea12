"""Rich rendering: progress on stderr, tables, errors."""

from __future__ import annotations

import os
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
from .flags import FLAGS

STAGE_LABELS = {
    "probe": "Probe video",
    "sample": "Sample frames",
    "load": "Load model",
    "preprocess": "Preprocess",
    "prefill": "Prefill (vision + prompt)",
    "generate": "Generate",
    "windows": "Score windows",
}
# Stages whose text is a status line (replaced each time), not streamed tokens.
STATUS_STAGES = frozenset({"windows"})


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


def print_error(console: Console, error: ChroniconError, prefix: str = "") -> None:
    """One red line with the message, one dim line with the hint (shown even when quiet);
    settings are named by their flags."""
    message, hint = error.rendered(FLAGS)
    was_quiet, console.quiet = console.quiet, False
    console.print(
        f"[bold red]error:[/] {prefix}{message}", highlight=False, soft_wrap=True, markup=True
    )
    if hint:
        console.print(f"[dim]hint: {hint}[/]", highlight=False, soft_wrap=True)
    console.quiet = was_quiet


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
            SpinnerColumn(finished_text="[green]✓[/]"),
            TextColumn("{task.description}"),
            BarColumn(bar_width=24),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            EtaColumn(),
            TextColumn("[dim]{task.fields[tail]}[/]"),
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
            self.progress.update(task, advance=advance, tail=text)
        elif text and self.verbose:
            streamed = (self.streamed.get(stage, "") + text).replace("\n", " ")
            self.streamed[stage] = streamed
            self.progress.update(task, advance=advance, tail=streamed[-48:])
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
        self.console.print(f"[yellow]note:[/] {message}", highlight=False, soft_wrap=True)


def timing_table(result: AnalysisResult) -> Table:
    """Each stage's time, tokens and tokens/s, plus peak memory."""
    table = Table(title="Timing", title_justify="left")
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
            STAGE_LABELS.get(stage, stage),
            f"{seconds:.3f}",
            str(count) if count is not None else "",
            f"{rate:.1f}" if rate else "",
        )
    table.add_row("[bold]total[/]", f"[bold]{result.total_time:.3f}[/]", "", "")
    table.caption = (
        f"peak memory {result.peak_memory_gb:.3f} GB · {result.backend} on {result.device}"
        f" ({result.dtype}) · {len(result.frames)} frames"
        + (f" · BLAS {result.backend_details['blas']}" if "blas" in result.backend_details else "")
        + (
            f" · vision on {streams} streams"
            if (streams := result.backend_details.get("vision_streams", "1")) != "1"
            else ""
        )
    )
    return table


def models_table(rows: list[dict[str, Any]], machine: str) -> Table:
    """The known models, their Hub ids and costs, and whether they are cached."""
    table = Table(title="SmolVLM2 models", caption=f"this machine: {machine}")
    for column in ("alias", "model", "MLX Hub id", "transformers Hub id", "params"):
        table.add_column(column)
    table.add_column("tokens/frame", justify="right")
    table.add_column("memory (card)", justify="right")
    table.add_column("needs GB\nfp32/bf16/8b/4b", justify="right")
    table.add_column("runs here on")
    table.add_column("cached")
    table.add_column("note")
    for row in rows:
        table.add_row(
            row["alias"],
            row["name"],
            row["mlx_hub_id"],
            row["hub_id"],
            row["parameters"],
            str(row["tokens_per_frame"]),
            f"~{row['memory_gb']:.1f} GB",
            "/".join(f"{v:.1f}" for v in row["memory_needed_gb"].values()),
            ", ".join(row["backends"]) or "[red]nothing[/]",
            "[green]yes[/]" if row["cached"] else "no",
            row["note"],
        )
    return table


def summary_table(rows: list[dict[str, Any]]) -> Table:
    """One line per video of a batch: duration, time taken, status, first line of the answer."""
    table = Table(title="Summary", title_justify="left")
    for column in ("video", "duration", "seconds", "status", "answer / error"):
        table.add_column(column, justify="right" if column in ("duration", "seconds") else "left")
    for row in rows:
        duration = row["duration_s"]
        table.add_row(
            row["video"],
            "" if duration is None else f"{duration:.1f} s",
            f"{row['seconds']:.1f}",
            "[green]ok[/]" if row["status"] == "ok" else "[red]failed[/]",
            row["detail"],
        )
    return table
