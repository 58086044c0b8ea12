"""`chronicon-mlx analyze VIDEO`: answer a question about a clip."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from ..config import (
    DEFAULT_FRAMES,
    DEFAULT_MAX_TOKENS,
    GenerationConfig,
    SamplingConfig,
    check_text,
)
from ..models import DEFAULT_MODEL
from ..timecodes import parse_time
from .common import handle_errors
from .models import show_models
from .profiles import PROFILES_FILE_OPTION
from .render import RichReporter, stderr_console, timing_table


def _list_models(value: bool) -> None:
    if value:
        show_models()
        raise typer.Exit(0)


def analyze_command(
    video: Path = typer.Argument(..., help="The video file to analyze.", show_default=False),
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
    profiles_file: Path | None = PROFILES_FILE_OPTION,
    temperature: float = typer.Option(0.0, "--temperature", help="0 is greedy (reproducible)."),
    seed: int | None = typer.Option(None, "--seed", help="Random seed for sampling."),
    model: str = typer.Option(
        DEFAULT_MODEL, "--model", "-m", help="An alias (256m, 500m, 2.2b), a Hub id, or a folder."
    ),
    backend: str = typer.Option(
        "auto",
        "--backend",
        "-b",
        help="auto, mlx or transformers (auto falls back when one fails).",
    ),
    device: str = typer.Option("auto", "--device", help="auto, mps, cuda or cpu."),
    dtype: str = typer.Option(
        "auto",
        "--dtype",
        help="auto (float32 on CPU/MPS, bfloat16 on CUDA), float32, float16, bfloat16.",
    ),
    quantize: str | None = typer.Option(
        None,
        "--quantize",
        "-q",
        help="none, 4bit or 8bit. [default: none, or quantized when only that fits in memory]",
        show_default=False,
    ),
    output: Path | None = typer.Option(
        None,
        "--output",
        "-o",
        help="Where to save the JSON record. [default: results/<video>_<UTC time>.json]",
    ),
    no_save: bool = typer.Option(False, "--no-save", help="Do not save a JSON record."),
    as_json: bool = typer.Option(False, "--json", help="Print the JSON record on stdout."),
    verbose: bool = typer.Option(
        False, "--verbose", "-v", help="Stream tokens and show a per-stage timing table."
    ),
    list_models: bool = typer.Option(
        False,
        "--list-models",
        help="List the known models and exit.",
        is_eager=True,
        callback=_list_models,
    ),
) -> None:
    """Sample frames from VIDEO and ask a SmolVLM2 model about them."""
    console = stderr_console()
    with handle_errors(console):
        from ..pipeline import Analyzer
        from ..writers import check_writable, default_output_path, write_json

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
            frames=DEFAULT_FRAMES if frames is None else frames,
            resize=resize,
            start_s=parse_time(start, "--start") if start is not None else 0.0,
            end_s=parse_time(end, "--end") if end is not None else None,
            fps=fps,
            seek=seek,
            strategy=sampling_strategy,
        )
        generation = GenerationConfig(
            max_tokens=DEFAULT_MAX_TOKENS if max_tokens is None else max_tokens,
            temperature=temperature,
            seed=seed,
        )
        if output is not None and not no_save:
            check_writable(output)
        reporter = RichReporter(console, verbose=verbose)
        analyzer = Analyzer(
            model=model,
            backend=backend,
            device=device,
            dtype=dtype,
            quantize=quantize,
            reporter=reporter,
        )
        with reporter:
            result = analyzer.analyze(video, prompt, system, sampling, generation)
        record = result.to_dict()
        record["profile"] = profile_name
        saved: Path | None = None
        if not no_save:
            target = output or default_output_path(video, result.started_at)
            saved = write_json(record, target)
        if verbose:
            console.print(timing_table(result))
        if as_json:
            typer.echo(json.dumps(record, indent=2, ensure_ascii=False))
        else:
            typer.echo(result.analysis)
        if saved is not None:
            console.print(f"[dim]saved {saved}[/]", highlight=False)
