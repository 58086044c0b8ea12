"""Highlights of a long video: windows → frames (one decoding pass) → a scored answer per
window (model loaded once, shared prompt prefix reused) → merged and ranked moments.

`HighlightFinder.iter_windows` yields each window's result as it is known; `run` collects
them into a ranked `HighlightsResult`. Nothing here prints; progress goes to the session's
reporter.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..analysis.analyze import open_model
from ..analysis.listen import listen, room_for_speech
from ..analysis.params import HearingConfig
from ..analysis.result import ModelInfo
from ..analysis.runlog import RunLog
from ..analysis.session import RANDOM_WEIGHTS_NOTE, LoadedModel, ModelSession
from ..analysis.spec import SessionSpec
from ..audio.hear import Hearing
from ..errors import VideoError, field
from ..files import folder_lock, own_folder
from ..media.decode import Frame, decoder_for, iter_windows, sample
from ..media.probe import VideoInfo
from ..model.context import check_fits, check_user_text
from ..model.prompt import build_prompt, load_chat_template
from ..options import choices
from ..options.profiles import Profile, get
from ..progress import Reporter
from . import ranking, resume, scoring
from .ask import Asking, ask, token_budget
from .excitement import add_speech, with_excitement
from .params import HighlightsConfig, Tuning, WindowSpan, plan_windows
from .result import HighlightsResult, WindowResult
from .thumbnails import THUMBS_FOLDER, with_thumbnail
from .windowspeech import WindowSpeech


class HighlightFinder:
    """Finds the highlights of videos with one model session (loaded once)."""

    def __init__(
        self,
        session: ModelSession,
        profile: Profile,
        system: str | None = None,
        question: str | None = None,
        tuning: Tuning | None = None,
        hearing: HearingConfig | None = None,
    ) -> None:
        self.session = session
        self.profile = profile
        self.system = system or profile.system
        self.question = question
        self.tuning = tuning or Tuning()
        self.hearing = hearing or HearingConfig()

    def parameters(self, info: VideoInfo, config: HighlightsConfig, resize: int) -> dict[str, Any]:
        """What decides each window's answer (a checkpoint is reused only if they match):
        the video, the model and how it runs, the prompts, and the config's answer
        settings (`resize` as resolved)."""
        session = self.session
        return {
            "video": {"path": str(info.path), "size": info.file_size_bytes},
            "model": session.model.name,
            "model_path": str(session.model.path),
            "backend": [c.backend for c in session.candidates],
            "device": [c.device for c in session.candidates],
            "dtype": session.dtype,
            "quantize": None if session.quantize == "auto" else session.quantize,
            "profile": self.profile.name,
            "system": self.system,
            "question": self.question or scoring.QUESTION,
            "rubric": self.profile.rubric,
            **config.answer_settings(),
            "resize": resize,
            "speech_model": None if self.hearing.speech is False else session.speech.model,
            "audio_track": self.hearing.track,
        }

    def iter_windows(
        self,
        video_path: str | Path,
        config: HighlightsConfig | None = None,
        output_dir: Path | None = None,
        fresh: bool = False,
    ) -> Iterator[WindowResult]:
        """Every window's result: first those resumed from the checkpoint, then each newly
        scored one as soon as it is done (see `run`)."""
        yield from self.start(video_path, config, output_dir, fresh).windows()

    def start(
        self,
        video_path: str | Path,
        config: HighlightsConfig | None = None,
        output_dir: Path | None = None,
        fresh: bool = False,
    ) -> HighlightsRun:
        """Probe the video, plan its windows and read the checkpoint; nothing is scored
        until the returned run's `windows()` is iterated."""
        return HighlightsRun(self, video_path, config or HighlightsConfig(), output_dir, fresh)

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
        scan = self.start(video_path, config, output_dir, fresh)
        for _ in scan.windows():
            pass
        return scan.result()


class HighlightsRun:
    """One video's highlights run: planned on creation, scored as `windows()` is iterated,
    ranked by `result()`."""

    def __init__(
        self,
        finder: HighlightFinder,
        video_path: str | Path,
        config: HighlightsConfig,
        output_dir: Path | None,
        fresh: bool,
    ) -> None:
        self.finder = finder
        self.config = config
        self.output_dir = output_dir
        self.log = RunLog(finder.session.reporter)
        self.info = self.log.probe(video_path)
        self.resize = config.resize or finder.session.model.frame_size
        self.spans = plan_windows(self.info, config)
        self.parameters = finder.parameters(self.info, config, self.resize)
        self.done = self._resumed(fresh)
        self.results: dict[int, WindowResult] = dict(self.done)
        self.loaded: LoadedModel | None = None
        self._heard: tuple[Hearing | None] | None = None

    def heard(self) -> Hearing | None:
        """What was heard in the video's audio (listened to once, on first use)."""
        if self._heard is None:
            session, config = self.finder.session, self.config
            found = listen(
                session.speech,
                session.video_cache,
                self.info.path,
                self.finder.hearing,
                (config.start_s, config.end_s),
                self.log,
                loudness=True,
            )
            self._heard = (found,)
        return self._heard[0]

    def _resumed(self, fresh: bool) -> dict[int, WindowResult]:
        if self.output_dir is None:
            return {}
        path = self.output_dir / resume.CHECKPOINT_NAME
        done: dict[int, WindowResult] = {}
        if not fresh:
            done, notes = resume.load(
                path, self.parameters, self.spans, self.config.seek == "exact"
            )
            for message in notes:
                self.log.note(message)
        done = {n: w for n, w in done.items() if n < len(self.spans)}
        if done:
            self.log.note(
                f"resuming from {path}: {len(done)} of {len(self.spans)} windows already done"
            )
        return done

    def windows(self) -> Iterator[WindowResult]:
        """Each window's result: resumed ones first, then each newly scored one (appended
        to the checkpoint before it is yielded)."""
        yield from (self.done[n] for n in sorted(self.done))
        checkpoint = None
        if self.output_dir is not None:
            path = self.output_dir / resume.CHECKPOINT_NAME
            checkpoint = resume.Checkpoint(path, self.parameters, self.done)
            own_folder(self.output_dir / THUMBS_FOLDER)
        try:
            pending = [span for span in self.spans if span.number not in self.done]
            if not pending:
                return
            budget = token_budget(self.config, self.config.constrained)
            counted = self._check_prompt(pending[0], budget)
            session = self.finder.session
            speech = WindowSpeech(
                self.heard(), session.model, room_for_speech(session.model, counted, budget)
            )
            loaded = session.load_stage(self.log, self.config.frames_per_window, budget, counted)
            self.loaded = loaded
            for window in self._score(pending, loaded, speech):
                self.results[window.number] = window
                if checkpoint is not None:
                    checkpoint.append(window)
                yield window
            if speech.left_out:
                self.log.note(
                    f"speech: {speech.left_out} transcript lines did not fit in their"
                    " windows' prompts and were left out"
                )
        finally:
            if checkpoint is not None:
                checkpoint.close()

    def result(self) -> HighlightsResult:
        """The ranked result (every window must have been scored or resumed)."""
        if self.finder.session.model.random_weights:
            self.log.note(RANDOM_WEIGHTS_NOTE)
        windows = [self.results[span.number] for span in self.spans]
        config = self.config
        heard = self.heard()
        weight = config.audio_weight
        if heard is not None and heard.loudness:
            windows = with_excitement(heard, windows)
        elif weight > 0:
            self.log.note("loudness not used in the ranking: the video has no audio to measure")
            weight = 0.0
        start = time.perf_counter()
        merged = ranking.merge(windows, config.min_significance, weight)
        highlights = ranking.rank(merged, config.max_highlights)
        if heard is not None:
            add_speech(heard, highlights)
        self.log.timings["rank"] = time.perf_counter() - start
        loaded, model = self.loaded, self.finder.session.model
        if loaded is None:  # every window was resumed: the model never ran
            info = ModelInfo(model.name, str(model.path), model.random_weights)
        else:
            info = loaded.info
        return HighlightsResult(
            source=self.info,
            profile=self.finder.profile,
            config=self.config,
            parameters=self.parameters,
            windows=windows,
            highlights=highlights,
            model=info,
            backend_info=loaded.backend.info if loaded else None,
            decoder=decoder_for(self.info, self.config.seek),
            timings=self.log.timings,
            started_at=self.log.started_at,
            resumed_windows=len(self.done),
            notes=self.log.notes,
            audio=heard,
        )

    def _check_prompt(self, span: WindowSpan, budget: int) -> int:
        """The prompt tokens of a window (the firmer retry's), refused before any work when
        user text holds a special token or the prompt overruns the model's context."""
        finder, model = self.finder, self.finder.session.model
        check_user_text(model, {"system": finder.system, "prompt": finder.question})
        count = len(span.indices)
        text = build_prompt(
            load_chat_template(model.path),
            scoring.user_prompt(finder.question, firmer=True),
            [span.start_s + (i + 0.5) * (span.end_s - span.start_s) / count for i in range(count)],
            span.end_s - span.start_s,
            scoring.system_prompt(finder.system, finder.profile.rubric),
        )
        return check_fits(model, text, count, budget)

    def _frames(self, pending: list[WindowSpan]) -> Iterator[tuple[int, list[Frame]]]:
        """Each pending window's frames; the middle one of each also at thumbnail size when
        thumbnails are written."""
        info, seek = self.info, self.config.seek
        previews = set()
        if self.output_dir is not None:
            previews = {s.indices[len(s.indices) // 2] for s in pending if s.indices}
        if self.finder.tuning.shared_decoding:
            wanted = {span.number for span in pending}
            requests = [span.indices if span.number in wanted else [] for span in self.spans]
            yield from iter_windows(info, requests, self.resize, seek, previews)
            return
        for span in pending:
            yield span.number, sample(info, span.indices, self.resize, seek, previews)

    def _score(
        self, pending: list[WindowSpan], loaded: LoadedModel, speech: WindowSpeech
    ) -> Iterator[WindowResult]:
        finder, config, timings = self.finder, self.config, self.log.timings
        constrained = config.constrained and loaded.backend.supports_json_schema
        asking = Asking(
            loaded=loaded,
            system=scoring.system_prompt(finder.system, finder.profile.rubric),
            question=finder.question,
            config=config,
            constrained=constrained,
            max_tokens=token_budget(config, constrained),
            reuse_prefix=finder.tuning.reuse_prefix,
            speech=speech,
        )
        report = finder.session.reporter
        report.stage_started("windows", total=len(pending))
        started = time.perf_counter()
        timings.setdefault("decode", 0.0)
        timings.setdefault("generate", 0.0)
        frames_iter = self._frames(pending)
        while True:
            start = time.perf_counter()
            item = next(frames_iter, None)
            timings["decode"] += time.perf_counter() - start
            if item is None:
                break
            number, frames = item
            span = self.spans[number]
            if not frames:
                raise VideoError(
                    f"no frame of window {number} ({span.start_s:.1f}-{span.end_s:.1f} s)"
                    f" of {self.info.path} could be decoded",
                    hint=f"the file may be damaged; try {field('start_s')}/{field('end_s')}"
                    " to skip that part",
                )
            start = time.perf_counter()
            window = ask(asking, span, frames)
            timings["generate"] += time.perf_counter() - start
            if self.output_dir is not None:
                window = with_thumbnail(window, frames, self.output_dir)
            score = "unscored" if window.significance is None else f"{window.significance}/10"
            report.stage_advanced("windows", 1, f"last: {span.start_s:.0f}s {score}")
            yield window
        report.stage_finished("windows", time.perf_counter() - started)


def highlights(
    video_path: str | Path,
    *,
    profile: str = choices.DEFAULT_PROFILE,
    model: str | SessionSpec | ModelSession = choices.DEFAULT_MODEL,
    window_s: float | None = None,
    overlap_s: float | None = None,
    frames_per_window: int | None = None,
    start_s: float = 0.0,
    end_s: float | None = None,
    min_significance: int = choices.DEFAULT_MIN_SIGNIFICANCE,
    max_highlights: int = choices.DEFAULT_MAX_HIGHLIGHTS,
    output_dir: str | Path | None = None,
    reporter: Reporter | None = None,
) -> HighlightsResult:
    """Find the ranked highlights of one video (nothing is printed).

    Window settings default to the profile's. `model` is as for `analyze` (a name, a
    `SessionSpec` or an open session). With `output_dir`, finished windows are checkpointed
    there (a rerun resumes) and window thumbnails are written beside them.
    """
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
    finder = HighlightFinder(open_model(model, reporter), chosen)
    if output_dir is None:
        return finder.run(video_path, config)
    folder = Path(output_dir).expanduser()
    with folder_lock(folder):
        return finder.run(video_path, config, folder)
