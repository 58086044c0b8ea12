"""`chronicon-mlx highlights VIDEO`: score every window of a long video, rank the moments."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import typer
from rich.table import Table

from ..errors import field
from ..files import check_folder, check_writable, folder_lock, own_folder, unique_path
from ..highlight.params import HighlightsConfig
from ..media.sources import check_file, expand
from ..options import choices, profiles, userconfig
from ..options.choices import SORTS, check_choice, check_text
from ..output import check_targets
from ..text import json_text
from ..timecodes import format_time, parse_time
from . import options
from .batch import Done, finish, run_each
from .common import handle_errors, open_session, session_spec
from .render import RichReporter, cell, line, plural, print_saved, stderr_console, stdout_console

if TYPE_CHECKING:
    from rich.console import Console

    from ..highlight.result import HighlightsResult
    from ..output import Written


def highlights_command(
    videos: list[Path] = options.VIDEOS,
    recursive: bool = options.RECURSIVE,
    profile_name: str | None = options.HIGHLIGHTS_PROFILE,
    profiles_file: Path | None = options.PROFILES_FILE,
    window: float | None = options.WINDOW,
    overlap: float | None = options.value(
        None,
        "--overlap",
        help="Seconds each window overlaps the next.",
        metavar="SECONDS",
        shown=f"the profile's, {choices.DEFAULT_OVERLAP_S:g}",
    ),
    frames_per_window: int | None = options.FRAMES_PER_WINDOW,
    start: str | None = options.START,
    end: str | None = options.END,
    min_significance: int = options.value(
        choices.DEFAULT_MIN_SIGNIFICANCE,
        "--min-significance",
        metavar="N",
        help="Keep windows scored at least this (1-10).",
    ),
    max_highlights: int = options.value(
        choices.DEFAULT_MAX_HIGHLIGHTS,
        "--max-highlights",
        help="Keep this many at most.",
        metavar="N",
    ),
    formats: str | None = options.value(
        None,
        "--format",
        help=f"Any of {','.join(choices.FORMATS)} (comma-separated).",
        metavar="LIST",
        shown=f"{','.join(choices.DEFAULT_FORMATS)}, or the config file's",
    ),
    output: Path | None = options.value(
        None,
        "--output",
        "-o",
        metavar="FOLDER",
        help="Output folder (with several videos, the folder that holds one per video).",
        shown="results/<video-stem>_highlights/",
    ),
    reel: Path | None = options.value(
        None,
        "--reel",
        metavar="FILE",
        shown="none",
        help="Also cut the highlights into one clip (e.g. reel.mp4; with several videos, a"
        " file of that name in each video's output folder).",
    ),
    sort: str = options.value(
        "score", "--sort", help="Order of the reports: score or time.", metavar="ORDER"
    ),
    fresh: bool = options.flag(
        "--fresh",
        help="Ignore an existing checkpoint and score every window again (with --ray, also"
        " the videos the manifest has as done).",
    ),
    free_text: bool = options.flag(
        "--free-text", help="Do not constrain answers to JSON; parse them strictly, retry once."
    ),
    prompt: str | None = options.value(
        None,
        "--prompt",
        "-p",
        help="Replace the per-window question (JSON is still asked for).",
        metavar="TEXT",
        shown="the profile's",
    ),
    system: str | None = options.value(
        None,
        "--system",
        "-s",
        help="Replace the system prompt.",
        metavar="TEXT",
        shown="the profile's",
    ),
    resize: int | None = options.RESIZE,
    seek: str = options.SEEK,
    max_tokens: int | None = options.value(
        None,
        "--max-tokens",
        "-t",
        help="Tokens per answer (8-4096).",
        metavar="N",
        shown="enough for a complete answer",
    ),
    temperature: float = options.TEMPERATURE,
    seed: int | None = options.SEED,
    speech: bool | None = options.SPEECH,
    speech_model: str | None = options.SPEECH_MODEL,
    audio_track: int | None = options.AUDIO_TRACK,
    library: Path | None = options.ADD_TO_LIBRARY,
    model: str | None = options.MODEL,
    backend: str | None = options.BACKEND,
    device: str | None = options.DEVICE,
    dtype: str | None = options.DTYPE,
    quantize: str | None = options.QUANTIZE,
    as_json: bool = options.JSON_RECORD,
    ray: str | None = options.RAY,
    workers: int | None = options.WORKERS,
    quiet: bool = options.QUIET,
) -> None:
    """Find the ranked highlights of each video: score each window 1-10, merge, rank, report."""
    console = stderr_console(quiet)
    with handle_errors(console):
        from ..analysis.params import HearingConfig
        from ..analysis.session import ModelSession
        from ..highlight.run import HighlightFinder

        defaults = userconfig.load()
        files = expand(videos, recursive)
        chosen = (
            userconfig.checked_formats(formats, f"unknown {field('formats')}")
            if formats is not None
            else list(defaults["formats"])
        )
        check_choice(sort, SORTS, field("sort"))
        profile = profiles.get(userconfig.resolve(profile_name, "profile", defaults), profiles_file)
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
            seek=cast(choices.Seek, seek),
            temperature=temperature,
            seed=seed,
            constrained=not free_text,
        )
        store = None
        if library is not None:
            from .library import open_library

            store = open_library(library)
        if ray is not None:
            from ..archive.jobs import HighlightsJob
            from .archive import archive_folder, run_archive

            folder = archive_folder(output, defaults.output_folder())
            spec = session_spec(
                defaults, model, backend, device, dtype, quantize, speech_model=speech_model
            )
            job = HighlightsJob(
                spec,
                profile,
                config,
                check_text(system, "system"),
                check_text(prompt, "prompt"),
                chosen,
                cast(choices.Sort, sort),
                reel.name if reel is not None else None,
                HearingConfig(speech=speech, track=audio_track),
            )
            size = (config.frames_per_window, config.max_tokens or 256)
            run_archive(job, files, folder, ray, workers, fresh, size, console, as_json, store)
            return
        folders = _folders(files, output, defaults.output_folder())
        reels = _reels(files, folders, reel)
        own = len(files) > 1 or output is None  # folders the tool names for itself
        for video, folder, cut in zip(files, folders, reels, strict=True):
            if own and (folder.is_symlink() or (folder.exists() and not folder.is_dir())):
                own_folder(folder)  # refuses it, naming what is there
            check_targets(video, folder, chosen, cut, overwrite=fresh)
        if len(files) == 1:
            check_file(files[0])  # before any model is resolved or downloaded
        reporter = RichReporter(console)
        session = open_session(
            ModelSession,
            defaults,
            reporter,
            model,
            backend,
            device,
            dtype,
            quantize,
            speech_model=speech_model,
        )
        finder = HighlightFinder(
            session,
            profile,
            check_text(system, "system"),
            check_text(prompt, "prompt"),
            hearing=HearingConfig(speech=speech, track=audio_track),
        )
        results: list[dict[str, Any]] = []

        def work(number: int, video: Path) -> Done:
            folder = own_folder(folders[number]) if own else folders[number]
            result, written = _find(
                finder, video, config, folder, chosen, sort, reels[number], fresh, reporter
            )
            record = result.to_dict()
            results.append(record)
            if store is not None:
                added = store.add_record(record, folder, replace=fresh)
                console.print(line((f"library: {plural(added, 'moment')} added", "dim")))
            _report(result, written, config, as_json, console)
            detail = (
                f"{plural(len(result.highlights), 'highlight')},"
                f" {plural(result.unscored, 'unscored window')}"
            )
            return result.source.duration_s, detail

        rows = run_each(files, work, console, reporter)
        if as_json:
            data = results[0] if len(files) == 1 else results
            typer.echo(json_text(data))
        finish(rows, console, summary=not as_json)


def _find(
    finder: Any,
    video: Path,
    config: HighlightsConfig,
    folder: Path,
    formats: list[str],
    sort: str,
    reel: Path | None,
    fresh: bool,
    reporter: RichReporter,
) -> tuple[HighlightsResult, Written]:
    """One video's run and its files, with its output folder held for the run."""
    from ..output import write_highlights

    with folder_lock(folder), reporter:
        result = finder.run(video, config, folder, fresh=fresh)
        sorting = cast(choices.Sort, sort)
        written = write_highlights(result, folder, formats, sorting, reel=reel, overwrite=fresh)
        return result, written


def _report(
    result: HighlightsResult,
    written: Written,
    config: HighlightsConfig,
    as_json: bool,
    console: Console,
) -> None:
    """The ranked table on stdout (unless --json); reel, stale files and saved files on
    stderr."""
    if not result.highlights:
        best = max((w.significance or 0 for w in result.windows), default=0)
        console.print(
            line(
                ("note:", "yellow"),
                f" no window reached --min-significance {config.min_significance}"
                f" (the best scored {best or 'nothing'}); lower it to see more",
            )
        )
    if written.reel is not None:
        cut = written.reel
        parts = plural(len(cut.segments), "part")
        console.print(line((f"reel: {parts}, {cut.seconds:.1f} s ({cut.method})", "dim")))
    for stale in written.removed:
        console.print(line((f"removed {stale} (an earlier run's format not asked for now)", "dim")))
    if not as_json:
        stdout_console().print(highlights_table(result))
    print_saved(console, written.paths)


def _folders(files: list[Path], output: Path | None, base: Path) -> list[Path]:
    """Each video's output folder: `output` itself for one video, else one per video."""
    if len(files) == 1 and output is not None:
        check_folder(output.expanduser())
        return [output.expanduser()]
    parent = (output or base).expanduser()
    taken: set[Path] = set()
    folders = [unique_path(parent / f"{v.stem}_highlights", taken) for v in files]
    for folder in folders:
        check_folder(folder)
    return folders


def _reels(files: list[Path], folders: list[Path], reel: Path | None) -> list[Path | None]:
    """Each video's reel: `reel` itself for one video, else that name in each folder;
    checked before any model work."""
    if reel is None:
        return [None] * len(files)
    targets = [reel.expanduser()] if len(files) == 1 else [f / reel.name for f in folders]
    for target in targets:
        check_writable(target)
    return list(targets)


def highlights_table(result: HighlightsResult) -> Table:
    """The ranked highlights."""
    windows = plural(len(result.windows), "window")
    table = Table(
        title=line(f"Highlights of {Path(result.video_path).name}"),
        caption=line(
            f"{windows}, {result.unscored} unscored, {result.resumed_windows} resumed"
            f" · {result.model.name}"
        ),
    )
    for column in ("#", "time", "score", "description"):
        table.add_column(column, overflow="fold")
    for h in result.highlights:
        table.add_row(
            str(h.rank),
            f"{format_time(h.start_s)}-{format_time(h.end_s)}",
            f"{h.significance}/10",
            cell(h.description),
        )
    return table
