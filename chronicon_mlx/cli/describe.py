"""`chronicon-mlx library add VIDEOS`: describe every window of each video (the highlights
pass, resumable, beside the library) and store its moments; a video already described with
the same settings is skipped before the model loads."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from ..files import folder_lock, own_folder
from ..media.sources import expand
from ..options import profiles, userconfig
from . import options
from .batch import Done, finish, run_each
from .common import handle_errors, open_session, session_spec
from .library import LIBRARY, open_library
from .render import RichReporter, line, plural, stderr_console

if TYPE_CHECKING:
    from ..highlight.params import HighlightsConfig
    from ..highlight.run import HighlightFinder
    from ..library.store import Library


def library_add(
    videos: list[Path] = options.VIDEOS,
    recursive: bool = options.RECURSIVE,
    profile_name: str | None = options.HIGHLIGHTS_PROFILE,
    profiles_file: Path | None = options.PROFILES_FILE,
    window: float | None = options.WINDOW,
    frames_per_window: int | None = options.FRAMES_PER_WINDOW,
    fresh: bool = options.flag("--fresh", help="Describe the videos again from the start."),
    library: Path | None = LIBRARY,
    model: str | None = options.MODEL,
    backend: str | None = options.BACKEND,
    device: str | None = options.DEVICE,
    dtype: str | None = options.DTYPE,
    quantize: str | None = options.QUANTIZE,
    speech: bool | None = options.SPEECH,
    speech_model: str | None = options.SPEECH_MODEL,
    audio_track: int | None = options.AUDIO_TRACK,
    ray: str | None = options.RAY,
    workers: int | None = options.WORKERS,
    quiet: bool = options.QUIET,
) -> None:
    """Describe each video's windows and store them in the library (see `search`).

    With --window, the windows do not overlap.
    """
    console = stderr_console(quiet)
    with handle_errors(console):
        from ..analysis.params import HearingConfig
        from ..analysis.session import ModelSession
        from ..highlight.params import HighlightsConfig
        from ..highlight.run import HighlightFinder
        from ..library.runs import runs_folder

        defaults = userconfig.load()
        files = expand(videos, recursive)
        profile = profiles.get(userconfig.resolve(profile_name, "profile", defaults), profiles_file)
        overlap = None if window is None else 0.0
        config = HighlightsConfig.for_profile(profile, window, overlap, frames_per_window)
        hearing = HearingConfig(speech=speech, track=audio_track)
        store = open_library(library)
        if ray is not None:
            from ..archive.jobs import HighlightsJob
            from .archive import run_archive

            spec = session_spec(
                defaults, model, backend, device, dtype, quantize, speech_model=speech_model
            )
            job = HighlightsJob(spec, profile, config, None, None, ["json"], "time", None, hearing)
            size = (config.frames_per_window, config.max_tokens or 256)
            folder = runs_folder(store.path)
            run_archive(job, files, folder, ray, workers, fresh, size, console, False, store)
            return
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
            cache=True,
            speech_model=speech_model,
        )
        finder = HighlightFinder(session, profile, hearing=hearing)

        def work(number: int, video: Path) -> Done:
            def waiting() -> None:
                console.print(line((f"waiting for another run describing {video}", "dim")))

            return _describe(finder, store, video, config, fresh, reporter, waiting)

        rows = run_each(files, work, console, reporter)
        console.print(line((f"library: {store.path}", "dim")))
        finish(rows, console, summary=True)


def _describe(
    finder: HighlightFinder,
    store: Library,
    video: Path,
    config: HighlightsConfig,
    fresh: bool,
    reporter: RichReporter,
    waiting: Callable[[], None],
) -> Done:
    """One video's pass into its folder beside the library, then into the library (a run
    describing the same video elsewhere is waited for, then its pass is found there)."""
    from ..library.records import settings_key
    from ..library.runs import run_folder, runs_folder
    from ..output import write_highlights

    own_folder(runs_folder(store.path))
    folder = own_folder(run_folder(store.path, store.content(video)))
    with folder_lock(folder, waiting), reporter:
        scan = finder.start(video, config, folder, fresh)
        if not fresh and store.has(video, settings_key(scan.parameters)):
            return scan.info.duration_s, "already in the library"
        for _ in scan.windows():
            pass
        result = scan.result()
        write_highlights(result, folder, ["json"], overwrite=fresh)
        added = store.add(result, folder, replace=fresh)
    return result.source.duration_s, f"{plural(added, 'moment')} added"
