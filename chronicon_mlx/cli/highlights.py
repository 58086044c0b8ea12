"""`chronicon-mlx highlights VIDEO`: score every window of a long video, rank the moments."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.console import Console
from rich.table import Table

from ..config import check_text
from ..errors import EXIT_FAILURE
from ..profiles import DEFAULT_PROFILE
from ..timecodes import format_time, parse_time
from . import options
from .common import handle_errors
from .render import RichReporter, print_error, stderr_console, summary_table

if TYPE_CHECKING:
    from ..finder import HighlightsResult


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
        from .. import batch, profiles, settings
        from ..errors import UsageError, VideoError
        from ..finder import HighlightFinder, HighlightsConfig
        from ..pipeline import Analyzer
        from ..resume import folder_lock
        from ..writers.report import SORTS

        defaults = settings.load()
        files = batch.expand(videos, recursive)
        chosen = (
            settings.checked_formats(formats, "unknown --format")
            if formats is not None
            else list(defaults["formats"])
        )
        if sort not in SORTS:
            raise UsageError(f"unknown --sort '{sort}'", hint="score or time")
        profile = profiles.get(settings.resolve(profile_name, "profile", defaults), profiles_file)
        config = HighlightsConfig.for_profile(
            profile,
            window,
            overlap,
            frames_per_window,
            start_s=parse_time(start, "--start") if start is not None else 0.0,
            end_s=parse_time(end, "--end") if end is not None else None,
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
            from ..video import check_file

            check_file(files[0])  # before any model is resolved or downloaded
        reporter = RichReporter(console)
        analyzer = Analyzer(
            model=settings.resolve(model, "model", defaults),
            backend=settings.resolve(backend, "backend", defaults),
            device=settings.resolve(device, "device", defaults),
            dtype=settings.resolve(dtype, "dtype", defaults),
            quantize=quantize,
            reporter=reporter,
        )
        finder = HighlightFinder(
            analyzer, profile, check_text(system, "--system"), check_text(prompt, "--prompt")
        )
        results: list[HighlightsResult] = []
        rows: list[dict[str, object]] = []
        for number, (video, folder) in enumerate(zip(files, folders, strict=True), start=1):
            if len(files) > 1:
                console.print(f"[bold]{number}/{len(files)}[/] {video}", highlight=False)
            started = time.perf_counter()
            try:
                with folder_lock(folder), reporter:
                    result = finder.run(video, config, folder, fresh=fresh)
                    written = write_outputs(result, folder, chosen, sort)
            except (VideoError, UsageError) as error:
                if len(files) == 1:
                    raise
                print_error(console, error, prefix=f"{video.name}: ")
                rows.append({"video": video.name, "duration_s": None, "status": "failed",
                             "seconds": time.perf_counter() - started,
                             "detail": error.message})  # fmt: skip
                continue
            finally:
                reporter.reset()
            if reel is not None:
                target = reel if len(files) == 1 else folder / reel.name
                written.append(_cut_reel(video, result, target, console))
            results.append(result)
            rows.append({"video": video.name, "duration_s": result.video["duration_s"],
                         "status": "ok", "seconds": time.perf_counter() - started,
                         "detail": f"{len(result.highlights)} highlights, "
                                   f"{result.unscored} unscored windows"})  # fmt: skip
            if not as_json:
                Console().print(highlights_table(result))
            for path in written:
                console.print(f"[dim]saved {path}[/]", highlight=False)
        if as_json:
            data = [r.to_dict() for r in results]
            typer.echo(json.dumps(data[0] if len(files) == 1 else data, indent=2,
                                  ensure_ascii=False))  # fmt: skip
        elif len(files) > 1:
            Console().print(summary_table(rows))
        failed = sum(1 for row in rows if row["status"] != "ok")
        if failed:
            console.print(f"[red]{failed} of {len(files)} videos failed[/]", highlight=False)
            raise typer.Exit(EXIT_FAILURE)


def _folders(files: list[Path], output: Path | None, base: Path) -> list[Path]:
    """Each video's output folder: `output` itself for one video, else one per video."""
    from .. import batch

    if len(files) == 1 and output is not None:
        _check_folder(output)
        return [output]
    parent = output or base
    taken: set[Path] = set()
    folders = [batch.unique_path(parent / f"{v.stem}_highlights", taken) for v in files]
    for folder in folders:
        _check_folder(folder)
    return folders


def _cut_reel(video: Path, result: HighlightsResult, target: Path, console: Console) -> Path:
    from .. import video as video_module
    from ..writers.reel import write_reel

    info = result.source or video_module.probe(video)
    cut = write_reel(info, result.highlights, target)
    console.print(
        f"[dim]reel: {len(cut.segments)} parts, {cut.seconds:.1f} s ({cut.method})[/]",
        highlight=False,
    )
    return cut.path


def _check_folder(folder: Path) -> None:
    from ..errors import OutputError
    from ..writers.atomic import can_create_in

    if folder.exists() and not folder.is_dir():
        raise OutputError(f"output {folder} is a file, not a folder", hint="give -o a folder")
    existing = folder
    while not existing.exists():
        existing = existing.parent
    if not can_create_in(existing):
        raise OutputError(
            f"cannot write into {folder}: {existing} is not writable", hint="choose another -o"
        )


def write_outputs(
    result: HighlightsResult, folder: Path, formats: list[str], sort: str
) -> list[Path]:
    """Write each chosen format into `folder`; return the paths."""
    from ..writers import write_json
    from ..writers.captions import write_srt, write_vtt
    from ..writers.report import write_html, write_markdown

    stem = Path(result.video_path).stem
    written = []
    for name in formats:
        path = folder / f"{stem}_highlights.{name}"
        if name == "json":
            written.append(write_json(result.to_dict(), path))
        elif name == "srt":
            written.append(write_srt(result.windows, path))
        elif name == "vtt":
            written.append(write_vtt(result.windows, path))
        elif name == "md":
            written.append(write_markdown(result, path, sort))
        else:
            written.append(write_html(result, path, sort))
    return written


def highlights_table(result: HighlightsResult) -> Table:
    """The ranked highlights."""
    table = Table(
        title=f"Highlights of {Path(result.video_path).name}",
        caption=f"{len(result.windows)} windows, {result.unscored} unscored,"
        f" {result.resumed_windows} resumed · {result.model}",
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
