"""`chronicon-mlx highlights VIDEO`: score every window of a long video, rank the moments."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.console import Console
from rich.table import Table

from ..config import check_text
from ..models import DEFAULT_MODEL
from ..profiles import DEFAULT_PROFILE
from ..timecodes import format_time, parse_time
from .common import handle_errors
from .profiles import PROFILES_FILE_OPTION
from .render import RichReporter, stderr_console

if TYPE_CHECKING:
    from ..highlights import HighlightsResult

FORMATS = ("json", "srt", "vtt", "md", "html")


def parse_formats(value: str) -> list[str]:
    """The comma-separated --format list, checked."""
    from ..errors import UsageError

    chosen = [part.strip().lower() for part in value.split(",") if part.strip()]
    unknown = [f for f in chosen if f not in FORMATS]
    if unknown or not chosen:
        raise UsageError(
            f"unknown --format '{unknown[0] if unknown else value}'",
            hint=f"choose any of {','.join(FORMATS)} (comma-separated)",
        )
    return list(dict.fromkeys(chosen))


def highlights_command(
    video: Path = typer.Argument(..., help="The video to find highlights in.", show_default=False),
    profile_name: str = typer.Option(
        DEFAULT_PROFILE, "--profile", "-P", help="A prompt profile (see `chronicon-mlx profiles`)."
    ),
    profiles_file: Path | None = PROFILES_FILE_OPTION,
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
    formats: str = typer.Option(
        "json,md", "--format", help="Any of json,srt,vtt,md,html (comma-separated)."
    ),
    output: Path | None = typer.Option(
        None,
        "--output",
        "-o",
        help="Output folder. [default: results/<video-stem>_highlights/]",
        show_default=False,
    ),
    reel: Path | None = typer.Option(
        None, "--reel", help="Also cut the highlights into one clip (e.g. reel.mp4)."
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
    model: str = typer.Option(
        DEFAULT_MODEL, "--model", "-m", help="An alias (256m, 500m, 2.2b), a Hub id, or a folder."
    ),
    backend: str = typer.Option("auto", "--backend", "-b", help="auto, mlx or transformers."),
    device: str = typer.Option("auto", "--device", help="auto, mps, cuda or cpu."),
    dtype: str = typer.Option("auto", "--dtype", help="auto, float32, float16 or bfloat16."),
    quantize: str | None = typer.Option(
        None, "--quantize", "-q", help="none, 4bit or 8bit.", show_default=False
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the JSON record on stdout."),
) -> None:
    """Find the ranked highlights of VIDEO: score each window 1-10, merge, rank, report."""
    console = stderr_console()
    with handle_errors(console):
        from .. import profiles
        from ..errors import UsageError
        from ..highlights import HighlightFinder, HighlightsConfig
        from ..pipeline import Analyzer
        from ..writers.report import SORTS

        chosen = parse_formats(formats)
        if sort not in SORTS:
            raise UsageError(f"unknown --sort '{sort}'", hint="score or time")
        profile = profiles.get(profile_name, profiles_file)
        config = HighlightsConfig(
            window_s=profile.window if window is None else window,
            overlap_s=profile.overlap if overlap is None else overlap,
            frames_per_window=(
                profile.frames_per_window if frames_per_window is None else frames_per_window
            ),
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
        folder = output or Path("results") / f"{video.stem}_highlights"
        _check_folder(folder)
        reporter = RichReporter(console)
        analyzer = Analyzer(
            model=model,
            backend=backend,
            device=device,
            dtype=dtype,
            quantize=quantize,
            reporter=reporter,
        )
        finder = HighlightFinder(
            analyzer, profile, check_text(system, "--system"), check_text(prompt, "--prompt")
        )
        with reporter:
            result = finder.run(video, config, folder, fresh=fresh)
        written = write_outputs(result, folder, chosen, sort)
        if reel is not None:
            from .. import video as video_module
            from ..writers.reel import write_reel

            cut = write_reel(video_module.probe(video), result.highlights, reel)
            written.append(cut.path)
            console.print(
                f"[dim]reel: {len(cut.segments)} parts, {cut.seconds:.1f} s ({cut.method})[/]",
                highlight=False,
            )
        if as_json:
            typer.echo(json.dumps(result.to_dict(), indent=2, ensure_ascii=False))
        else:
            Console().print(highlights_table(result))
        for path in written:
            console.print(f"[dim]saved {path}[/]", highlight=False)


def _check_folder(folder: Path) -> None:
    import os

    from ..errors import OutputError

    if folder.exists() and not folder.is_dir():
        raise OutputError(f"output {folder} is a file, not a folder", hint="give -o a folder")
    existing = folder
    while not existing.exists():
        existing = existing.parent
    if not os.access(existing, os.W_OK | os.X_OK):
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
