"""`chronicon-mlx highlights VIDEO`: score every window of a long video, rank the moments."""

from __future__ import annotations

import json
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.console import Console
from rich.table import Table

from ..errors import field
from ..files import check_folder, folder_lock, unique_path
from ..highlight.params import HighlightsConfig
from ..media.sources import check_file, expand
from ..options import profiles, userconfig
from ..options.choices import DEFAULT_PROFILE, SORTS, check_choice, check_text
from ..timecodes import format_time, parse_time
from . import options
from .batch import Done, finish, run_each
from .common import handle_errors
from .render import RichReporter, stderr_console

if TYPE_CHECKING:
    from ..highlight.result import HighlightsResult


def highlights_command(
    videos: list[Path] = options.VIDEOS,
    recursive: bool = options.RECURSIVE,
    profile_name: str | None = typer.Option(
        None,
        "--profile",
        "-P",
        help=f"A prompt profile (see `chronicon-mlx profiles`). [default: {DEFAULT_PROFILE}]",
        show_default=False,
    ),
    profiles_file: Path | None = options.PROFILES_FILE,
    window: float | None = typer.Option(
        None, "--window", help="Window length in seconds. [default: the profile's, 30]"
    ),
    overlap: float | None = typer.Option(
        None, "--overlap", help="Seconds each window overlaps the next. [default: profile's, 5]"
    ),
    frames_per_window: int | None = typer.Option(
        None, "--frames-per-window", help="Frames per window. [default: the profile's, 6]"
    ),
    start: str | None = typer.Option(None, "--start", help="From this time (s, MM:SS, H:MM:SS)."),
    end: str | None = typer.Option(None, "--end", help="Up to this time (s, MM:SS, H:MM:SS)."),
    min_significance: int = typer.Option(
        6, "--min-significance", help="Keep windows scored at least this (1-10)."
    ),
    max_highlights: int = typer.Option(10, "--max-highlights", help="Keep this many at most."),
    formats: str | None = typer.Option(
        None,
        "--format",
        help="Any of json,srt,vtt,md,html (comma-separated). [default: json,md]",
        show_default=False,
    ),
    output: Path | None = typer.Option(
        None,
        "--output",
        "-o",
        help="Output folder (with several videos, the folder that holds one per video)."
        " [default: results/<video-stem>_highlights/]",
        show_default=False,
    ),
    reel: Path | None = typer.Option(
        None,
        "--reel",
        help="Also cut the highlights into one clip (e.g. reel.mp4; with several videos, a"
        " file of that name in each video's output folder).",
    ),
    sort: str = typer.Option("score", "--sort", help="Order of the reports: score or time."),
    fresh: bool = typer.Option(
        False, "--fresh", help="Ignore an existing checkpoint and score every window again."
    ),
    free_text: bool = typer.Option(
        False,
        "--free-text",
        help="Do not constrain answers to JSON; parse them strictly and retry once.",
    ),
    prompt: str | None = typer.Option(
        None, "--prompt", "-p", help="Replace the per-window question (JSON is still asked for)."
    ),
    system: str | None = typer.Option(None, "--system", "-s", help="Replace the system prompt."),
    resize: int | None = typer.Option(None, "--resize", "-r", help="Longest frame edge (px)."),
    seek: str = typer.Option("exact", "--seek", help="exact or keyframe (faster, approximate)."),
    max_tokens: int | None = typer.Option(
        None, "--max-tokens", "-t", help="Tokens per answer. [default: enough for the JSON]"
    ),
    temperature: float = typer.Option(0.0, "--temperature", help="0 is greedy (reproducible)."),
    seed: int | None = typer.Option(None, "--seed", help="Random seed for sampling."),
    model: str | None = options.MODEL,
    backend: str | None = options.BACKEND,
    device: str | None = options.DEVICE,
    dtype: str | None = options.DTYPE,
    quantize: str | None = options.QUANTIZE,
    as_json: bool = options.JSON_RECORD,
    quiet: bool = options.QUIET,
) -> None:
    """Find the ranked highlights of each video: score each window 1-10, merge, rank, report."""
    console = stderr_console(quiet)
    with handle_errors(console):
        from ..analysis.session import ModelSession
        from ..highlight.run import HighlightFinder
        from ..output import write_highlights

        defaults = userconfig.load()
        files = expand(videos, recursive)
        pick = partial(userconfig.resolve, settings=defaults)
        chosen = (
            userconfig.checked_formats(formats, f"unknown {field('formats')}")
            if formats is not None
            else list(defaults["formats"])
        )
        check_choice(sort, SORTS, field("sort"))
        profile = profiles.get(pick(profile_name, "profile"), profiles_file)
        config = HighlightsConfig.for_profile(
            profile,
            window,
            overlap,
            frames_per_window,
            start_s=parse_time(start, "start_s") if start is not None else 0.0,
            end_s=parse_time(end, "end_s") if end is not None else None,
            min_significance=min_significance,
            max_highlights=max_highlights,
            max_tokens=max_tokens,
            resize=resize,
            seek=seek,
            temperature=temperature,
            seed=seed,
            constrained=not free_text,
        )
        folders = _folders(files, output, defaults.output_folder())
        if len(files) == 1:
            check_file(files[0])  # before any model is resolved or downloaded
        reporter = RichReporter(console)
        session = ModelSession(
            model=pick(model, "model"),
            backend=pick(backend, "backend"),
            device=pick(device, "device"),
            dtype=pick(dtype, "dtype"),
            quantize=quantize or "auto",  # type: ignore[arg-type]
            reporter=reporter,
        )
        finder = HighlightFinder(
            session, profile, check_text(system, "system"), check_text(prompt, "prompt")
        )
        results: list[dict[str, Any]] = []

        def work(number: int, video: Path) -> Done:
            folder = folders[number]
            target = None if reel is None else reel if len(files) == 1 else folder / reel.name
            with folder_lock(folder), reporter:
                result = finder.run(video, config, folder, fresh=fresh)
                written = write_highlights(result, folder, chosen, sort, reel=target)  # type: ignore[arg-type]
            if written.reel is not None:
                cut = written.reel
                console.print(
                    f"[dim]reel: {len(cut.segments)} parts, {cut.seconds:.1f} s ({cut.method})[/]",
                    highlight=False,
                )
            results.append(result.to_dict())
            if not as_json:
                Console().print(highlights_table(result))
            for path in written.paths:
                console.print(f"[dim]saved {path}[/]", highlight=False)
            detail = f"{len(result.highlights)} highlights, {result.unscored} unscored windows"
            return result.source.duration_s, detail

        rows = run_each(files, work, console, reporter)
        if as_json:
            data = results[0] if len(files) == 1 else results
            typer.echo(json.dumps(data, indent=2, ensure_ascii=False))
        finish(rows, console, summary=not as_json)


def _folders(files: list[Path], output: Path | None, base: Path) -> list[Path]:
    """Each video's output folder: `output` itself for one video, else one per video."""
    if len(files) == 1 and output is not None:
        check_folder(output)
        return [output]
    parent = output or base
    taken: set[Path] = set()
    folders = [unique_path(parent / f"{v.stem}_highlights", taken) for v in files]
    for folder in folders:
        check_folder(folder)
    return folders


def highlights_table(result: HighlightsResult) -> Table:
    """The ranked highlights."""
    table = Table(
        title=f"Highlights of {Path(result.video_path).name}",
        caption=f"{len(result.windows)} windows, {result.unscored} unscored,"
        f" {result.resumed_windows} resumed · {result.model.name}",
    )
    for column in ("#", "time", "score", "description"):
        table.add_column(column)
    for h in result.highlights:
        table.add_row(
            str(h.rank),
            f"{format_time(h.start_s)}-{format_time(h.end_s)}",
            f"{h.significance}/10",
            h.description,
        )
    return table
