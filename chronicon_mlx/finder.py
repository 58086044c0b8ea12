"""Highlights of a long video: windows → frames (one decoding pass) → a scored answer per
window (model loaded once, shared prompt prefix reused) → merged and ranked moments.

Nothing here prints; progress goes to the Analyzer's Reporter.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from . import prompts, ranking, resume, scoring, video
from .backends import Backend, GenerationOutput, GenerationRequest
from .errors import UsageError, VideoError
from .events import Reporter, timed
from .pipeline import RANDOM_WEIGHTS_NOTE, Analyzer
from .profiles import Profile
from .ranking import Highlight, WindowResult
from .results import SCHEMA_VERSION
from .video import VideoInfo

FREE_TEXT_MAX_TOKENS = 128
THUMBNAIL_EDGE = 320
THUMBS_FOLDER = "thumbs"


@dataclass(frozen=True)
class HighlightsConfig:
    """How windows are cut and scored, and which of them become highlights.

    `max_tokens=None` picks enough tokens for a complete JSON answer. `constrained=False`
    asks for JSON in free text even where the backend could constrain it.
    `shared_decoding` and `reuse_prefix` exist to measure what they save.
    """

    window_s: float = 30.0
    overlap_s: float = 5.0
    frames_per_window: int = 6
    start_s: float = 0.0
    end_s: float | None = None
    min_significance: int = 6
    max_highlights: int = 10
    max_tokens: int | None = None
    resize: int | None = None
    seek: str = "exact"
    temperature: float = 0.0
    seed: int | None = None
    constrained: bool = True
    shared_decoding: bool = True
    reuse_prefix: bool = True

    @classmethod
    def for_profile(
        cls,
        profile: Profile,
        window_s: float | None = None,
        overlap_s: float | None = None,
        frames_per_window: int | None = None,
        **settings: Any,
    ) -> HighlightsConfig:
        """A config whose window settings left as None are the profile's."""
        return cls(
            window_s=profile.window if window_s is None else window_s,
            overlap_s=profile.overlap if overlap_s is None else overlap_s,
            frames_per_window=(
                profile.frames_per_window if frames_per_window is None else frames_per_window
            ),
            **settings,
        )

    def __post_init__(self) -> None:
        if not self.window_s > 0:
            raise UsageError(f"--window must be above 0 (got {self.window_s:g})", hint="try 30")
        if not 0 <= self.overlap_s < self.window_s:
            raise UsageError(
                f"--overlap must be at least 0 and less than --window ({self.window_s:g} s);"
                f" got {self.overlap_s:g}",
                hint="windows of 30 s with 5 s overlap suit most videos",
            )
        if not 1 <= self.frames_per_window <= 64:
            raise UsageError(
                f"--frames-per-window must be between 1 and 64 (got {self.frames_per_window})",
                hint="4-8 frames per window are usually enough",
            )
        if not 1 <= self.min_significance <= 10:
            raise UsageError(
                f"--min-significance must be between 1 and 10 (got {self.min_significance})",
                hint="6 keeps clearly notable moments",
            )
        if self.max_highlights < 1:
            raise UsageError(
                f"--max-highlights must be at least 1 (got {self.max_highlights})", hint="try 10"
            )
        if self.max_tokens is not None and not 8 <= self.max_tokens <= 4096:
            raise UsageError(
                f"--max-tokens must be between 8 and 4096 (got {self.max_tokens})",
                hint="leave it out to fit a complete answer",
            )
        if self.end_s is not None and self.end_s <= self.start_s:
            raise UsageError(
                f"--end ({self.end_s:g} s) must come after --start ({self.start_s:g} s)",
                hint="give a range such as --start 1:00 --end 30:00",
            )
        if self.seek not in ("exact", "keyframe"):
            raise UsageError(f"unknown --seek mode '{self.seek}'", hint="exact or keyframe")


@dataclass(frozen=True)
class WindowSpan:
    """A window of the video: its time range and the frames planned for it."""

    number: int
    start_s: float
    end_s: float
    indices: list[int]


def plan_windows(info: video.VideoInfo, config: HighlightsConfig) -> list[WindowSpan]:
    """Windows of `window_s` every `window_s - overlap_s` seconds over the range; the last one
    ends with the range. Each gets `frames_per_window` frames spread over it."""
    range_end = info.duration_s if config.end_s is None else min(config.end_s, info.duration_s)
    first_frame, _ = video.frame_range(info, config.start_s, config.end_s)
    step = config.window_s - config.overlap_s
    spans: list[WindowSpan] = []
    start = config.start_s
    while True:
        end = min(start + config.window_s, range_end)
        first, stop = video.frame_range(info, start, end)
        first = max(first, first_frame)
        indices = video.plan(info, first, stop, config.frames_per_window, config.seek)
        spans.append(WindowSpan(len(spans), start, end, indices))
        if end >= range_end - 1e-6:
            return spans
        start += step


@dataclass
class HighlightsResult:
    """Everything a highlights run produced."""

    video_path: str
    video: dict[str, Any]
    profile: dict[str, Any]
    parameters: dict[str, Any]
    windows: list[WindowResult]
    highlights: list[Highlight]
    model: str
    random_weights: bool
    backend: str | None
    device: str | None
    dtype: str | None
    timings: dict[str, float]
    started_at: datetime
    resumed_windows: int = 0
    notes: list[str] = field(default_factory=list)
    source: VideoInfo | None = field(default=None, repr=False)

    @property
    def unscored(self) -> int:
        """How many windows have no score."""
        return sum(1 for w in self.windows if w.significance is None)

    def to_dict(self) -> dict[str, Any]:
        """The JSON record."""
        from . import __version__

        generated = [w.seconds for w in self.windows]
        return {
            "schema_version": SCHEMA_VERSION,
            "chronicon_version": __version__,
            "kind": "highlights",
            "video_path": self.video_path,
            "video_info": self.video,
            "profile": self.profile,
            "parameters": self.parameters,
            "model": self.model,
            "random_weights": self.random_weights,
            "backend": self.backend,
            "device": self.device,
            "dtype": self.dtype,
            "highlights": [h.to_dict() for h in self.highlights],
            "windows": [w.to_dict(timing=False) for w in self.windows],
            "counts": {
                "windows": len(self.windows),
                "scored": len(self.windows) - self.unscored,
                "unscored": self.unscored,
                "resumed": self.resumed_windows,
                "highlights": len(self.highlights),
            },
            "timing": {
                "stages": {stage: round(s, 4) for stage, s in self.timings.items()},
                "seconds_per_window": round(sum(generated) / len(generated), 4)
                if generated
                else 0.0,
            },
            "timestamp": self.started_at.isoformat(timespec="seconds"),
            "notes": list(self.notes),
        }


class HighlightFinder:
    """Finds the highlights of videos with one Analyzer's model (loaded once)."""

    def __init__(
        self,
        analyzer: Analyzer,
        profile: Profile,
        system: str | None = None,
        question: str | None = None,
    ) -> None:
        self.analyzer = analyzer
        self.profile = profile
        self.system = system or profile.system
        self.question = question

    def parameters(
        self, info: video.VideoInfo, config: HighlightsConfig, resize: int
    ) -> dict[str, Any]:
        """What decides each window's answer (the checkpoint is reused only if they match)."""
        analyzer = self.analyzer
        return {
            "video": {"path": str(info.path), "size": info.file_size_bytes},
            "model": analyzer.model.name,
            "model_path": str(analyzer.model.path),
            "backend": [c.backend for c in analyzer.candidates],
            "device": [c.device for c in analyzer.candidates],
            "dtype": analyzer.dtype,
            "quantize": analyzer.quantize_request,
            "profile": self.profile.name,
            "system": self.system,
            "question": self.question or scoring.QUESTION,
            "rubric": self.profile.rubric,
            "window_s": config.window_s,
            "overlap_s": config.overlap_s,
            "frames_per_window": config.frames_per_window,
            "start_s": config.start_s,
            "end_s": config.end_s,
            "resize": resize,
            "seek": config.seek,
            "max_tokens": config.max_tokens,
            "temperature": config.temperature,
            "seed": config.seed,
            "constrained": config.constrained,
        }

    def run(
        self,
        video_path: str | Path,
        config: HighlightsConfig | None = None,
        output_dir: Path | None = None,
        fresh: bool = False,
    ) -> HighlightsResult:
        """Score every window of the video and rank the highlights.

        With `output_dir`, each finished window is appended to its checkpoint and a rerun
        with the same parameters resumes after the last finished window (`fresh` ignores
        the checkpoint); window thumbnails are written to ``output_dir/thumbs``.
        """
        config = config or HighlightsConfig()
        report = self.analyzer.reporter
        started_at = datetime.now(timezone.utc)
        timings: dict[str, float] = {}
        notes: list[str] = []

        def note(message: str) -> None:
            notes.append(message)
            report.note(message)

        with timed(report, "probe", timings):
            info = video.probe(Path(video_path).expanduser())
        resize = config.resize or self.analyzer.model.frame_size
        spans = plan_windows(info, config)
        parameters = self.parameters(info, config, resize)
        done: dict[int, WindowResult] = {}
        checkpoint: resume.Checkpoint | None = None
        if output_dir is not None:
            path = output_dir / resume.CHECKPOINT_NAME
            if not fresh:
                done, message = resume.load(path, parameters)
                if message:
                    note(message)
            done = {n: w for n, w in done.items() if n < len(spans)}
            if done:
                note(f"resuming from {path}: {len(done)} of {len(spans)} windows already done")
            checkpoint = resume.Checkpoint(path, parameters, done)
        pending = [span for span in spans if span.number not in done]
        results = dict(done)
        backend_info = None
        try:
            if pending:
                self.analyzer.load_stage(
                    config.frames_per_window, config.max_tokens or 256, timings, note
                )
                backend = self.analyzer.backend
                assert backend is not None
                backend_info = backend.info
                for window in self._score(info, spans, pending, config, resize, timings,
                                          output_dir):  # fmt: skip
                    results[window.number] = window
                    if checkpoint is not None:
                        checkpoint.append(window)
        finally:
            if checkpoint is not None:
                checkpoint.close()
        if self.analyzer.model.random_weights:
            note(RANDOM_WEIGHTS_NOTE)
        windows = [results[span.number] for span in spans]
        start = time.perf_counter()
        highlights = ranking.rank(
            ranking.merge(windows, config.min_significance), config.max_highlights
        )
        timings["rank"] = time.perf_counter() - start
        return HighlightsResult(
            video_path=str(info.path),
            video={
                "duration_s": round(info.duration_s, 3),
                "fps": round(info.fps, 3),
                "width": info.width,
                "height": info.height,
                "frame_count": info.frame_count,
                "codec": info.codec,
                "file_size_mb": round(info.file_size_bytes / 1e6, 3),
            },
            profile={"name": self.profile.name, "source": self.profile.source},
            parameters={
                **{k: v for k, v in parameters.items() if k not in ("video", "backend", "device")},
                "min_significance": config.min_significance,
                "max_highlights": config.max_highlights,
                "windows": len(spans),
                "decoder": video.decoder_for(info, config.seek),
            },
            windows=windows,
            highlights=highlights,
            model=self.analyzer.model.name,
            random_weights=self.analyzer.model.random_weights,
            backend=backend_info.name if backend_info else None,
            device=backend_info.device if backend_info else None,
            dtype=backend_info.dtype if backend_info else None,
            timings=timings,
            started_at=started_at,
            resumed_windows=len(done),
            notes=notes,
            source=info,
        )

    def _frames(
        self,
        info: video.VideoInfo,
        spans: list[WindowSpan],
        pending: list[WindowSpan],
        config: HighlightsConfig,
        resize: int,
    ) -> Iterator[tuple[int, list[video.Frame]]]:
        wanted = {span.number for span in pending}
        if config.shared_decoding:
            requests = [span.indices if span.number in wanted else [] for span in spans]
            yield from video.iter_windows(info, requests, resize, config.seek)
            return
        for span in pending:
            yield span.number, video.sample(info, span.indices, resize, config.seek)

    def _score(
        self,
        info: video.VideoInfo,
        spans: list[WindowSpan],
        pending: list[WindowSpan],
        config: HighlightsConfig,
        resize: int,
        timings: dict[str, float],
        output_dir: Path | None,
    ) -> Iterator[WindowResult]:
        report = self.analyzer.reporter
        backend = self.analyzer.backend
        assert backend is not None
        constrained = config.constrained and backend.supports_json_schema
        max_tokens = config.max_tokens or (
            scoring.CONSTRAINED_MAX_TOKENS if constrained else FREE_TEXT_MAX_TOKENS
        )
        system = scoring.system_prompt(self.system, self.profile.rubric)
        report.stage_started("windows", total=len(pending))
        started = time.perf_counter()
        timings.setdefault("decode", 0.0)
        timings.setdefault("generate", 0.0)
        frames_iter = self._frames(info, spans, pending, config, resize)
        while True:
            start = time.perf_counter()
            item = next(frames_iter, None)
            timings["decode"] += time.perf_counter() - start
            if item is None:
                break
            number, frames = item
            span = spans[number]
            if not frames:
                raise VideoError(
                    f"no frame of window {number} ({span.start_s:.1f}-{span.end_s:.1f} s)"
                    f" of {info.path} could be decoded",
                    hint="the file may be damaged; try --start/--end to skip that part",
                )
            start = time.perf_counter()
            window = self._ask(backend, span, frames, system, config, constrained, max_tokens)
            window = _with_thumbnail(window, frames, output_dir)
            timings["generate"] += time.perf_counter() - start
            score = "unscored" if window.significance is None else f"{window.significance}/10"
            report.stage_advanced("windows", 1, f"last: {span.start_s:.0f}s {score}")
            yield window
        report.stage_finished("windows", time.perf_counter() - started)

    def _ask(
        self,
        backend: Backend,
        span: WindowSpan,
        frames: list[video.Frame],
        system: str,
        config: HighlightsConfig,
        constrained: bool,
        max_tokens: int,
    ) -> WindowResult:
        """One window's answer: parsed strictly, retried once with a firmer instruction."""
        template = self.analyzer.chat_template
        start = time.perf_counter()
        outputs: list[GenerationOutput] = []
        score = None
        for firmer in (False, True):
            text = prompts.build_prompt(
                template,
                scoring.user_prompt(self.question, firmer=firmer),
                [f.timestamp_s - span.start_s for f in frames],
                span.end_s - span.start_s,
                system,
            )
            request = GenerationRequest(
                frames=[f.image for f in frames],
                prompt=text,
                max_tokens=max_tokens,
                temperature=config.temperature,
                seed=config.seed,
                prefix=prompts.shared_prefix(text) if config.reuse_prefix else "",
                json_schema=scoring.SCHEMA if constrained else None,
            )
            outputs.append(backend.generate(request))
            score = scoring.parse(outputs[-1].text)
            if score is not None:
                break
        last = outputs[-1]
        return WindowResult(
            number=span.number,
            start_s=span.start_s,
            end_s=span.end_s,
            description=score.description if score else None,
            significance=score.significance if score else None,
            raw=last.text,
            attempts=len(outputs),
            frame_indices=[f.index for f in frames],
            frame_times=[f.timestamp_s for f in frames],
            thumbnail=None,
            seconds=time.perf_counter() - start,
            prompt_tokens=sum(o.prompt_tokens for o in outputs),
            cached_tokens=sum(o.cached_tokens for o in outputs),
            generated_tokens=sum(o.generated_tokens for o in outputs),
            constrained=last.constrained,
        )


def _with_thumbnail(
    window: WindowResult, frames: list[video.Frame], output_dir: Path | None
) -> WindowResult:
    """Save the window's middle frame as a small JPEG (atomically) and point to it."""
    if output_dir is None:
        return window
    import cv2

    frame = frames[len(frames) // 2]
    image = cv2.cvtColor(frame.image, cv2.COLOR_RGB2BGR)
    height, width = image.shape[:2]
    new_w, new_h = video.target_size(width, height, THUMBNAIL_EDGE)
    if (new_w, new_h) != (width, height):
        image = cv2.resize(image, (new_w, new_h), interpolation=cv2.INTER_AREA)
    relative = f"{THUMBS_FOLDER}/window-{window.number:04d}.jpg"
    target = output_dir / relative
    target.parent.mkdir(parents=True, exist_ok=True)
    ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 85])
    if not ok:
        return window
    from .writers import atomic_write_bytes

    atomic_write_bytes(target, data.tobytes())
    return replace(window, thumbnail=relative)


def highlights(
    video_path: str | Path,
    *,
    profile: str = "general",
    model: str | None = None,
    window_s: float | None = None,
    overlap_s: float | None = None,
    frames_per_window: int | None = None,
    start_s: float = 0.0,
    end_s: float | None = None,
    min_significance: int = 6,
    max_highlights: int = 10,
    output_dir: str | Path | None = None,
    backend: str = "auto",
    device: str = "auto",
    dtype: str = "auto",
    quantize: str | None = None,
    reporter: Reporter | None = None,
) -> HighlightsResult:
    """Find the ranked highlights of one video (nothing is printed).

    Window settings default to the profile's. With `output_dir`, finished windows are
    checkpointed there (a rerun resumes) and window thumbnails are written beside them.
    """
    from . import models
    from .profiles import get

    chosen = get(profile)
    config = HighlightsConfig.for_profile(
        chosen,
        window_s,
        overlap_s,
        frames_per_window,
        start_s=start_s,
        end_s=end_s,
        min_significance=min_significance,
        max_highlights=max_highlights,
    )
    analyzer = Analyzer(
        model=model or models.DEFAULT_MODEL,
        backend=backend,
        device=device,
        dtype=dtype,
        quantize=quantize,
        reporter=reporter,
    )
    finder = HighlightFinder(analyzer, chosen)
    if output_dir is None:
        return finder.run(video_path, config)
    folder = Path(output_dir).expanduser()
    with resume.folder_lock(folder):
        return finder.run(video_path, config, folder)
