"""What a worker does with one video of an archive: the same analysis (or highlights run)
and the same files as a local run, written atomically. Jobs are plain data, so they travel
to Ray workers as they are."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from ..analysis.params import HearingConfig
from ..analysis.spec import SessionSpec
from ..errors import ChroniconError, UsageError, VideoError
from ..options.choices import Sort

if TYPE_CHECKING:
    from ..analysis.params import GenerationConfig, SamplingConfig
    from ..analysis.session import ModelSession
    from ..highlight.params import HighlightsConfig
    from ..options.profiles import Profile

Status = Literal["ok", "failed"]


@dataclass(frozen=True)
class Outcome:
    """One video's end: its record (or highlights report), seconds, and why it failed
    (`error` and `hint` as templates that name settings, see errors.render).

    `fatal` marks a failure that is not the video's (the model or backend could not be
    loaded): every other video would fail the same way. `retry` marks a failure a rerun
    should try again (an output that could not be written); a video that cannot be read
    fails the same way until it changes.
    """

    video: str
    status: Status
    output: str | None
    seconds: float
    duration_s: float | None = None
    detail: str = ""
    error: str | None = None
    hint: str | None = None
    fatal: bool = False
    retry: bool = False
    worker: str = ""

    def failure(self) -> ChroniconError:
        """The failure as the error it was (settings named as the reader's names)."""
        return ChroniconError(self.error or "failed", self.hint)


def digest(job: AnalyzeJob | HighlightsJob, video: Path) -> str:
    """A short hash of the job's parameters (the cache size aside: it does not change an
    answer) and of the video file (path, size, modification time)."""
    parts: dict[str, Any] = dataclasses.asdict(job)
    parts["session"].pop("cache_gb")
    parts["session"].pop("allow_download")
    parts.update(video=str(video.absolute()), stamp=video_stamp(video))
    text = json.dumps(parts, sort_keys=True, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def video_stamp(video: Path) -> dict[str, Any]:
    """What says a video file is the same one: its size and modification time."""
    try:
        info = video.stat()
    except OSError:
        return {"missing": True}
    return {"size": info.st_size, "mtime_ns": info.st_mtime_ns}


@dataclass(frozen=True)
class AnalyzeJob:
    """`analyze` over an archive: one JSON record per video."""

    session: SessionSpec
    questions: Sequence[str] | None
    system: str | None
    sampling: SamplingConfig
    generation: GenerationConfig
    profile: str | None = None
    hearing: HearingConfig = field(default_factory=HearingConfig)
    command: str = "analyze"

    def digest(self, video: Path) -> str:
        """A short hash of everything that shapes this video's output."""
        return digest(self, video)

    def session_kind(self) -> type[ModelSession]:
        """The session class the job needs."""
        from ..analysis.analyze import Analyzer

        return Analyzer

    def run(self, session: ModelSession, video: Path, output: Path, fresh: bool) -> Outcome:
        """Analyze `video` and write its record to `output` (replaced atomically)."""
        from ..analysis.analyze import analyze_video
        from ..output.json_record import write_json

        del fresh
        started = time.perf_counter()
        result = analyze_video(
            session,
            video,
            self.questions,
            self.system,
            self.sampling,
            self.generation,
            hearing=self.hearing,
        )
        result.profile = self.profile
        write_json(result.to_dict(), output)
        return Outcome(
            str(video),
            "ok",
            str(output),
            time.perf_counter() - started,
            result.video.duration_s,
            result.analysis,
        )


@dataclass(frozen=True)
class HighlightsJob:
    """`highlights` over an archive: one folder of reports per video, resumed window by
    window inside each video."""

    session: SessionSpec
    profile: Profile
    config: HighlightsConfig
    system: str | None
    prompt: str | None
    formats: Sequence[str]
    sort: Sort
    reel: str | None = None
    hearing: HearingConfig = field(default_factory=HearingConfig)
    command: str = "highlights"

    def digest(self, video: Path) -> str:
        """A short hash of everything that shapes this video's output."""
        return digest(self, video)

    def session_kind(self) -> type[ModelSession]:
        """The session class the job needs."""
        from ..analysis.session import ModelSession

        return ModelSession

    def run(self, session: ModelSession, video: Path, output: Path, fresh: bool) -> Outcome:
        """Find the highlights of `video` into the folder `output` (its JSON report is the
        outcome's output), holding the folder for the run."""
        from ..files import folder_lock, own_folder
        from ..highlight.run import HighlightFinder
        from ..output import check_targets, highlights_path, write_highlights

        started = time.perf_counter()
        finder = HighlightFinder(
            session, self.profile, self.system, self.prompt, hearing=self.hearing
        )
        reel = output / self.reel if self.reel else None
        with folder_lock(own_folder(output)):
            check_targets(video, output, self.formats, reel, overwrite=fresh)
            result = finder.run(video, self.config, output, fresh=fresh)
            write_highlights(result, output, self.formats, self.sort, reel=reel, overwrite=fresh)
        unscored = f", {result.unscored} unscored" if result.unscored else ""
        return Outcome(
            str(video),
            "ok",
            str(highlights_path(result, output, "json")),
            time.perf_counter() - started,
            result.source.duration_s,
            f"{len(result.highlights)} highlights{unscored}",
        )


Job = AnalyzeJob | HighlightsJob


def attempt(
    job: Job, session: ModelSession, video: Path, output: Path, fresh: bool = False
) -> Outcome:
    """Run one video of `job`; a video that cannot be read or used, or an output that cannot
    be written, is a failed outcome (the others go on), and so is a model that cannot be
    loaded (marked fatal)."""
    started = time.perf_counter()
    failure: ChroniconError
    try:
        return job.run(session, video, output, fresh)
    except (VideoError, UsageError) as error:
        failure, fatal, retry = error, False, False
    except ChroniconError as error:
        failure, fatal, retry = error, not session.is_loaded, True
    seconds = time.perf_counter() - started
    return Outcome(
        str(video),
        "failed",
        None,
        seconds,
        None,
        failure.message,
        failure.template,
        failure.hint_template,
        fatal,
        retry,
    )
