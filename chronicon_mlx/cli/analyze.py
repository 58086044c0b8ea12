"""`chronicon-mlx analyze VIDEO...`: answer a question about each clip."""

from __future__ import annotations

from datetime import datetime, timezone
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from ..errors import OutputError, UsageError, field
from ..files import check_writable, unique_path
from ..media.sources import check_file, expand
from ..options import choices, profiles, userconfig
from ..options.choices import check_text
from ..output.json_record import default_output_path, write_json
from ..text import json_text, printable
from . import options
from .batch import Done, Row, finish, run_each
from .common import handle_errors, open_session, run_configs, session_spec
from .models import show_models
from .render import RichReporter, line, plural, print_saved, stderr_console, timing_table

if TYPE_CHECKING:
    from rich.console import Console

    from ..analysis.result import AnalysisResult


def _list_models(value: bool) -> None:
    if value:
        show_models()
        raise typer.Exit(0)


def analyze_command(
    videos: list[Path] = options.VIDEOS,
    recursive: bool = options.RECURSIVE,
    frames: int | None = options.FRAMES,
    start: str | None = options.START,
    end: str | None = options.END,
    fps: float | None = options.FPS,
    sampling_strategy: str = options.SAMPLING,
    seek: str = options.SEEK,
    prompt: list[str] | None = options.value(
        None,
        "--prompt",
        "-p",
        help="The question to ask; repeat it to ask several (the video is read and encoded"
        " once for all of them).",
        metavar="TEXT",
        shown=f"{choices.DEFAULT_PROMPT!r}, or the profile's",
    ),
    system: str | None = options.SYSTEM,
    resize: int | None = options.RESIZE,
    max_tokens: int | None = options.MAX_TOKENS,
    profile_name: str | None = options.PROFILE,
    profiles_file: Path | None = options.PROFILES_FILE,
    temperature: float = options.TEMPERATURE,
    seed: int | None = options.SEED,
    model: str | None = options.MODEL,
    backend: str | None = options.BACKEND,
    device: str | None = options.DEVICE,
    dtype: str | None = options.DTYPE,
    quantize: str | None = options.QUANTIZE,
    output: Path | None = options.value(
        None,
        "--output",
        "-o",
        metavar="PATH",
        help="Where to save the JSON record (a folder: with several videos, or when it is one).",
        shown="results/<video>_<UTC time>.json",
    ),
    no_save: bool = options.flag("--no-save", help="Do not save a JSON record."),
    as_json: bool = options.JSON_RECORD,
    verbose: bool = options.flag(
        "--verbose", "-v", help="Stream tokens and show a per-stage timing table."
    ),
    no_cache: bool = options.NO_CACHE,
    speech: bool | None = options.SPEECH,
    speech_model: str | None = options.SPEECH_MODEL,
    audio_track: int | None = options.AUDIO_TRACK,
    library: Path | None = options.ADD_TO_LIBRARY,
    ray: str | None = options.RAY,
    workers: int | None = options.WORKERS,
    fresh: bool = options.flag(
        "--fresh", help="With --ray: analyze again the videos the manifest has as done."
    ),
    quiet: bool = options.QUIET,
    list_models: bool = typer.Option(
        False,
        "--list-models",
        help="List the known models and exit.",
        is_eager=True,
        callback=_list_models,
        metavar="",
    ),
) -> None:
    """Sample frames from each video and ask a SmolVLM2 model about them."""
    console = stderr_console(quiet)
    with handle_errors(console):
        from ..analysis.analyze import Analyzer
        from ..analysis.params import HearingConfig

        defaults = userconfig.load()
        files = expand(videos, recursive)
        profile = profiles.get(profile_name, profiles_file) if profile_name else None
        pick = partial(userconfig.resolve, settings=defaults, profile=profile)
        asked = [text for text in (check_text(p, "prompt") for p in prompt or []) if text]
        questions: list[str] | None = asked or pick(None, "prompt")
        system = pick(check_text(system, "system"), "system")
        sampling, generation = run_configs(
            pick,
            frames,
            start,
            end,
            fps,
            sampling_strategy,
            seek,
            resize,
            max_tokens,
            temperature,
            seed,
        )
        hearing = HearingConfig(speech=speech, track=audio_track)
        output = output.expanduser() if output is not None else None
        store = None
        if library is not None:
            from .library import open_library

            store = open_library(library)
        if ray is not None:
            from ..archive.jobs import AnalyzeJob
            from .archive import archive_folder, run_archive

            if no_save:
                raise UsageError(
                    f"{field('no_save')} cannot go with {field('ray')}: an archive's records"
                    " are what it makes",
                    hint=f"leave out {field('no_save')}, or {field('ray')} to run here",
                )

            folder = archive_folder(output, defaults.output_folder())
            spec = session_spec(
                defaults, model, backend, device, dtype, quantize, not no_cache, speech_model
            )
            job = AnalyzeJob(spec, questions, system, sampling, generation, profile_name, hearing)
            size = (sampling.frames, generation.max_tokens)
            run_archive(job, files, folder, ray, workers, fresh, size, console, as_json, store)
            return
        targets = _targets(files, output, no_save, defaults.output_folder())
        exclusive = output is None or output.is_dir()
        if len(files) == 1:
            check_file(files[0])  # before any model is resolved or downloaded
        reporter = RichReporter(console, verbose=verbose)
        session = open_session(
            Analyzer,
            defaults,
            reporter,
            model,
            backend,
            device,
            dtype,
            quantize,
            cache=not no_cache,
            speech_model=speech_model,
        )
        records: list[dict[str, Any]] = []

        def work(number: int, video: Path) -> Done:
            with reporter:
                result = session.analyze(
                    video, questions, system, sampling, generation, hearing=hearing
                )
            result.profile = profile_name
            record = result.to_dict()
            target = targets[number]
            saved = write_json(record, target, exclusive) if target is not None else None
            _show(result, record, len(files) > 1, as_json, verbose, console)
            records.append({**record, "status": "ok"})
            if store is not None:
                added = store.add_record(record)
                console.print(line((f"library: {plural(added, 'answer')} added", "dim")))
            print_saved(console, [saved] if saved else [])
            return result.video.duration_s, result.analysis

        rows = run_each(files, work, console, reporter)
        if as_json and len(files) > 1:
            typer.echo(json_text(_entries(files, rows, records)))
        finish(rows, console, summary=not as_json)


def _show(
    result: AnalysisResult,
    record: dict[str, Any],
    many: bool,
    as_json: bool,
    verbose: bool,
    console: Console,
) -> None:
    """One video's answer on stdout (headed by its name among several), or its record."""
    if verbose:
        console.print(timing_table(result))
    if as_json:
        if not many:
            typer.echo(json_text(record))
        return
    if many:
        typer.echo(f"== {printable(result.video.name)} ==")
    for answer in result.answers:
        typer.echo(f"Q: {printable(answer.question)}")
        typer.echo(printable(answer.text) + "\n")
    if not result.answers:
        typer.echo(printable(result.analysis))
    if many and not result.answers:
        typer.echo("")


def _entries(
    files: list[Path], rows: list[Row], records: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Every video's entry in the order given: its record, or why it failed."""
    done = iter(records)
    return [
        next(done)
        if row.ok
        else {"video_path": str(video), "status": "failed", "error": row.detail}
        for video, row in zip(files, rows, strict=True)
    ]


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
