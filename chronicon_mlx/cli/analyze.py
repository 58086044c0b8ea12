"""`chronicon-mlx analyze VIDEO...`: answer a question about each clip."""

from __future__ import annotations

import json
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.console import Console

from .. import batch, settings
from ..config import (
    DEFAULT_FRAMES,
    DEFAULT_MAX_TOKENS,
    GenerationConfig,
    SamplingConfig,
    check_text,
)
from ..errors import EXIT_FAILURE, OutputError, UsageError, VideoError
from ..timecodes import parse_time
from ..writers import check_writable, default_output_path, write_json
from . import options
from .common import handle_errors
from .models import show_models
from .render import RichReporter, print_error, stderr_console, summary_table, timing_table

if TYPE_CHECKING:
    from ..results import AnalysisResult


def _list_models(value: bool) -> None:
    if value:
        show_models()
        raise typer.Exit(0)


def analyze_command(
    videos: list[Path] = options.VIDEOS,
    recursive: bool = options.RECURSIVE,
    frames: int | None = typer.Option(
        None,
        "--frames",
        "-f",
        help=f"Frames to sample, spread over the clip (1-64). [default: {DEFAULT_FRAMES},"
        " or the profile's]",
        show_default=False,
    ),
    start: str | None = typer.Option(
        None, "--start", help="Sample from this time on (seconds, MM:SS or H:MM:SS)."
    ),
    end: str | None = typer.Option(
        None, "--end", help="Sample up to this time (seconds, MM:SS or H:MM:SS)."
    ),
    fps: float | None = typer.Option(
        None, "--fps", help="Frames per second to sample instead of --frames (at most 64)."
    ),
    sampling_strategy: str = typer.Option(
        "uniform",
        "--sampling",
        help="uniform: spread evenly; scene: prefer frames right after scene changes.",
    ),
    seek: str = typer.Option(
        "exact",
        "--seek",
        help="exact: the frames asked for; keyframe: the nearest keyframes (fast on long videos).",
    ),
    prompt: str | None = typer.Option(
        None, "--prompt", "-p", help="The question to ask. [default: describe the video]"
    ),
    system: str | None = typer.Option(None, "--system", "-s", help="A system prompt."),
    resize: int | None = typer.Option(
        None,
        "--resize",
        "-r",
        help="Longest edge (pixels) of the frames given to the model."
        " [default: the model's frame size]",
    ),
    max_tokens: int | None = typer.Option(
        None,
        "--max-tokens",
        "-t",
        help=f"Most tokens to generate. [default: {DEFAULT_MAX_TOKENS}, or the profile's]",
        show_default=False,
    ),
    profile_name: str | None = typer.Option(
        None,
        "--profile",
        "-P",
        help="A prompt profile (system prompt, question, defaults); --system/--prompt win.",
    ),
    profiles_file: Path | None = options.PROFILES_FILE,
    temperature: float = typer.Option(0.0, "--temperature", help="0 is greedy (reproducible)."),
    seed: int | None = typer.Option(None, "--seed", help="Random seed for sampling."),
    model: str | None = options.MODEL,
    backend: str | None = options.BACKEND,
    device: str | None = options.DEVICE,
    dtype: str | None = options.DTYPE,
    quantize: str | None = options.QUANTIZE,
    output: Path | None = typer.Option(
        None,
        "--output",
        "-o",
        help="Where to save the JSON record (a folder: with several videos, or when it is one)."
        " [default: results/<video>_<UTC time>.json]",
        show_default=False,
    ),
    no_save: bool = typer.Option(False, "--no-save", help="Do not save a JSON record."),
    as_json: bool = options.JSON_RECORD,
    verbose: bool = typer.Option(
        False, "--verbose", "-v", help="Stream tokens and show a per-stage timing table."
    ),
    quiet: bool = options.QUIET,
    list_models: bool = typer.Option(
        False,
        "--list-models",
        help="List the known models and exit.",
        is_eager=True,
        callback=_list_models,
    ),
) -> None:
    """Sample frames from each video and ask a SmolVLM2 model about them."""
    console = stderr_console(quiet)
    with handle_errors(console):
        from ..pipeline import Analyzer

        config = settings.load()
        files = batch.expand(videos, recursive)
        prompt = check_text(prompt, "--prompt")
        system = check_text(system, "--system")
        if profile_name is not None:
            from .. import profiles

            profile = profiles.get(profile_name, profiles_file)
            prompt = prompt or profile.prompt
            system = system or profile.system
            frames = profile.frames if frames is None else frames
            max_tokens = profile.max_tokens if max_tokens is None else max_tokens
        sampling = SamplingConfig(
            frames=settings.resolve(frames, "frames", config),
            resize=resize,
            start_s=parse_time(start, "--start") if start is not None else 0.0,
            end_s=parse_time(end, "--end") if end is not None else None,
            fps=fps,
            seek=seek,
            strategy=sampling_strategy,
        )
        generation = GenerationConfig(
            max_tokens=settings.resolve(max_tokens, "max_tokens", config),
            temperature=temperature,
            seed=seed,
        )
        targets = _targets(files, output, no_save, config.output_folder())
        if len(files) == 1:
            from ..video import check_file

            check_file(files[0])  # before any model is resolved or downloaded
        reporter = RichReporter(console, verbose=verbose)
        analyzer = Analyzer(
            model=settings.resolve(model, "model", config),
            backend=settings.resolve(backend, "backend", config),
            device=settings.resolve(device, "device", config),
            dtype=settings.resolve(dtype, "dtype", config),
            quantize=quantize,
            reporter=reporter,
        )
        if len(files) == 1:
            with reporter:
                result = analyzer.analyze(files[0], prompt, system, sampling, generation)
            exclusive = output is None or output.is_dir()
            _show_one(result, targets[0], profile_name, as_json, verbose, console, exclusive)
            return
        rows = []
        records: list[dict[str, object]] = []
        for number, (video, target) in enumerate(zip(files, targets, strict=True), start=1):
            console.print(f"[bold]{number}/{len(files)}[/] {video}", highlight=False)
            start_time = time.perf_counter()
            try:
                with reporter:
                    result = analyzer.analyze(video, prompt, system, sampling, generation)
            except (VideoError, UsageError) as error:
                print_error(console, error, prefix=f"{video.name}: ")
                rows.append(_row(video, None, time.perf_counter() - start_time, error.message))
                records.append({"video_path": str(video), "status": "failed",
                                "error": error.message})  # fmt: skip
                continue
            finally:
                reporter.reset()
            record = result.to_dict()
            record["profile"] = profile_name
            if target is not None:
                saved = write_json(record, target, exclusive=True)
                console.print(f"[dim]saved {saved}[/]", highlight=False)
            rows.append(_row(video, result.video["duration_s"], result.total_time, None,
                             result.analysis))  # fmt: skip
            records.append({**record, "status": "ok"})
        if as_json:
            typer.echo(json.dumps(records, indent=2, ensure_ascii=False))
        else:
            Console().print(summary_table(rows))
        failed = sum(1 for row in rows if row["status"] != "ok")
        if failed:
            console.print(f"[red]{failed} of {len(files)} videos failed[/]", highlight=False)
            raise typer.Exit(EXIT_FAILURE)


def _targets(
    files: list[Path], output: Path | None, no_save: bool, folder: Path
) -> list[Path | None]:
    """Where each record goes: `output` itself for one video, else files in a folder."""
    if no_save:
        return [None] * len(files)
    stamp = datetime.now(timezone.utc)
    if len(files) == 1 and output is not None and not output.is_dir():
        check_writable(output)
        return [output]
    if output is not None:
        if output.exists() and not output.is_dir():
            raise OutputError(
                f"--output {output} is a file; with several videos it names a folder",
                hint="give a folder, e.g. -o results/",
            )
        folder = output
    taken: set[Path] = set()
    targets: list[Path | None] = [
        batch.unique_path(default_output_path(video, stamp, folder), taken) for video in files
    ]
    check_writable(default_output_path(files[0], stamp, folder))  # one folder for them all
    return targets


def _show_one(
    result: AnalysisResult,
    target: Path | None,
    profile_name: str | None,
    as_json: bool,
    verbose: bool,
    console: Console,
    exclusive: bool,
) -> None:
    """Save the record of a single video and print its answer (or record)."""
    record = result.to_dict()
    record["profile"] = profile_name
    saved = write_json(record, target, exclusive) if target is not None else None
    if verbose:
        console.print(timing_table(result))
    if as_json:
        typer.echo(json.dumps(record, indent=2, ensure_ascii=False))
    else:
        typer.echo(result.analysis)
    if saved is not None:
        console.print(f"[dim]saved {saved}[/]", highlight=False)


def _row(
    video: Path, duration: float | None, seconds: float, error: str | None, answer: str = ""
) -> dict[str, object]:
    first = answer.strip().splitlines()[0] if answer.strip() else ""
    return {
        "video": video.name,
        "duration_s": duration,
        "seconds": seconds,
        "status": "failed" if error else "ok",
        "detail": error or first,
    }
