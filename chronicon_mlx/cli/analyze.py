"""`chronicon-mlx analyze VIDEO...`: answer a question about each clip."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from functools import partial
from pathlib import Path
from typing import Any

import typer

from ..analysis.params import GenerationConfig, SamplingConfig
from ..errors import OutputError, field
from ..files import check_writable, unique_path
from ..media.sources import check_file, expand
from ..options import profiles, userconfig
from ..options.choices import DEFAULT_FRAMES, DEFAULT_MAX_TOKENS, check_text
from ..output.json_record import default_output_path, write_json
from ..timecodes import parse_time
from . import options
from .batch import Done, Row, finish, run_each
from .common import handle_errors
from .models import show_models
from .render import RichReporter, stderr_console, timing_table


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
        from ..analysis.analyze import Analyzer

        defaults = userconfig.load()
        files = expand(videos, recursive)
        profile = profiles.get(profile_name, profiles_file) if profile_name else None
        pick = partial(userconfig.resolve, settings=defaults, profile=profile)
        question = pick(check_text(prompt, "prompt"), "prompt")
        system = pick(check_text(system, "system"), "system")
        sampling = SamplingConfig(
            frames=pick(frames, "frames"),
            resize=resize,
            start_s=parse_time(start, "start_s") if start is not None else 0.0,
            end_s=parse_time(end, "end_s") if end is not None else None,
            fps=fps,
            seek=seek,  # type: ignore[arg-type]
            strategy=sampling_strategy,  # type: ignore[arg-type]
        )
        generation = GenerationConfig(
            max_tokens=pick(max_tokens, "max_tokens"), temperature=temperature, seed=seed
        )
        targets = _targets(files, output, no_save, defaults.output_folder())
        exclusive = output is None or output.is_dir()
        if len(files) == 1:
            check_file(files[0])  # before any model is resolved or downloaded
        reporter = RichReporter(console, verbose=verbose)
        session = Analyzer(
            model=pick(model, "model"),
            backend=pick(backend, "backend"),
            device=pick(device, "device"),
            dtype=pick(dtype, "dtype"),
            quantize=quantize or "auto",  # type: ignore[arg-type]
            reporter=reporter,
        )
        records: list[dict[str, Any]] = []

        def work(number: int, video: Path) -> Done:
            with reporter:
                result = session.analyze(video, question, system, sampling, generation)
            result.profile = profile_name
            record = result.to_dict()
            target = targets[number]
            saved = write_json(record, target, exclusive) if target is not None else None
            if len(files) == 1:
                if verbose:
                    console.print(timing_table(result))
                typer.echo(json.dumps(record, indent=2, ensure_ascii=False) if as_json
                           else result.analysis)  # fmt: skip
            records.append({**record, "status": "ok"})
            if saved is not None:
                console.print(f"[dim]saved {saved}[/]", highlight=False)
            return result.video.duration_s, _first_line(result.analysis)

        rows = run_each(files, work, console, reporter)
        if as_json and len(files) > 1:
            typer.echo(json.dumps(_entries(files, rows, records), indent=2, ensure_ascii=False))
        finish(rows, console, summary=not as_json)


def _entries(
    files: list[Path], rows: list[Row], records: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Every video's entry in the order given: its record, or why it failed."""
    done = iter(records)
    return [
        next(done) if row.ok else {"video_path": str(video), "status": "failed",
                                   "error": row.detail}
        for video, row in zip(files, rows, strict=True)
    ]  # fmt: skip


def _first_line(answer: str) -> str:
    return answer.strip().splitlines()[0] if answer.strip() else ""


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
                f"{field('output')} {output} is a file; with several videos it names a folder",
                hint=f"give a folder, e.g. {field('output', 'results/')}",
            )
        folder = output
    taken: set[Path] = set()
    targets: list[Path | None] = [
        unique_path(default_output_path(video, stamp, folder), taken) for video in files
    ]
    check_writable(default_output_path(files[0], stamp, folder))  # one folder for them all
    return targets
