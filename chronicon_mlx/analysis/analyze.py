"""analyze: probe → sample → load → prompt → generate, on a model session; no printing."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from ..media.decode import decoder_for
from ..model.context import check_user_text
from ..options.choices import (
    DEFAULT_FRAMES,
    DEFAULT_MAX_TOKENS,
    DEFAULT_MODEL,
    DEFAULT_PROMPT,
    Seek,
    Strategy,
    check_text,
)
from ..progress import Reporter
from .conversation import VideoChat
from .params import GenerationConfig, HearingConfig, SamplingConfig
from .result import AnalysisResult, FrameRef, VideoFacts
from .session import ModelSession
from .spec import SessionSpec

TokenCallback = Callable[[str], None]


def analyze_video(
    session: ModelSession,
    video_path: str | Path,
    prompt: str | Sequence[str] | None = None,
    system: str | None = None,
    sampling: SamplingConfig | None = None,
    generation: GenerationConfig | None = None,
    on_token: TokenCallback | None = None,
    hearing: HearingConfig | None = None,
) -> AnalysisResult:
    """Answer `prompt` about one video with the session's model (loaded on first use).

    `prompt` may be several questions: the frames are decoded and encoded once and the video
    prefilled once; each question then costs only its own tokens (`result.answers`).
    `on_token` receives each answer's text as it is generated. `hearing` says what to do
    with the audio track (by default: speech in the prompt when the speech model is here).
    """
    sampling = sampling or SamplingConfig()
    generation = generation or GenerationConfig()
    asked = [prompt] if prompt is None or isinstance(prompt, str) else list(prompt)
    questions = [check_text(q, "prompt") for q in asked] or [None]
    system = check_text(system, "system")
    for question in questions:
        check_user_text(session.model, {"prompt": question, "system": system})
    texts = [question or DEFAULT_PROMPT for question in questions]
    longest = max(texts, key=len)
    chat = VideoChat.open(
        session, video_path, system, sampling, generation, longest, hearing=hearing
    )
    chat.history = False
    answers = [chat.ask(text, on_token) for text in texts]
    video, run, loaded = chat.video, chat.run, chat.loaded
    first = answers[0]
    return AnalysisResult(
        video=VideoFacts.from_info(video.info),
        prompt=first.question,
        system=system,
        custom_prompt=questions[0] is not None,
        analysis=first.text,
        model=loaded.info,
        backend_info=loaded.backend.info,
        sampling=sampling,
        generation=generation,
        requested_frames=video.wanted,
        decoder=decoder_for(video.info, sampling.seek),
        resize=video.resize,
        frames=[FrameRef(f.index, f.timestamp_s) for f in video.frames],
        usage=first.usage,
        stages=run.timings,
        started_at=run.started_at,
        notes=run.notes,
        answers=answers if len(answers) > 1 else [],
        audio=chat.hearing,
    )


class Analyzer(ModelSession):
    """A model session with an `analyze` method: load once, analyze many videos."""

    def analyze(
        self,
        video_path: str | Path,
        prompt: str | Sequence[str] | None = None,
        system: str | None = None,
        sampling: SamplingConfig | None = None,
        generation: GenerationConfig | None = None,
        on_token: TokenCallback | None = None,
        hearing: HearingConfig | None = None,
    ) -> AnalysisResult:
        """Answer `prompt` about one video (see `analyze_video`)."""
        return analyze_video(
            self, video_path, prompt, system, sampling, generation, on_token, hearing
        )


def open_model(model: str | SessionSpec | ModelSession, reporter: Reporter | None) -> ModelSession:
    """A session for `model`: an open one as it is, else one opened from a spec (a string
    names the model, every other setting at its default)."""
    if isinstance(model, ModelSession):
        return model
    spec = SessionSpec(model) if isinstance(model, str) else model
    return ModelSession(spec, reporter=reporter)


def analyze(
    video_path: str | Path,
    prompt: str | Sequence[str] | None = None,
    *,
    system: str | None = None,
    model: str | SessionSpec | ModelSession = DEFAULT_MODEL,
    frames: int = DEFAULT_FRAMES,
    resize: int | None = None,
    start_s: float = 0.0,
    end_s: float | None = None,
    fps: float | None = None,
    seek: Seek = "exact",
    strategy: Strategy = "uniform",
    max_tokens: int = DEFAULT_MAX_TOKENS,
    temperature: float = 0.0,
    seed: int | None = None,
    reporter: Reporter | None = None,
    on_token: TokenCallback | None = None,
    speech: bool | None = None,
    audio_track: int | None = None,
) -> AnalysisResult:
    """Analyze one video with a SmolVLM2 model and return the result (nothing is printed).

    `prompt` may be several questions (the video is read and encoded once). `model` is an
    alias, Hub id or folder; a `SessionSpec` for every session setting (backend, device,
    dtype, quantization, the video cache, the speech model); or an open `ModelSession`,
    reused as it is. `speech`: what is said goes into the prompt (None: when the speech
    model is here; True: always, downloading it if needed; False: never); `audio_track`
    picks the audio track (from 0).
    """
    sampling = SamplingConfig(
        frames=frames,
        resize=resize,
        start_s=start_s,
        end_s=end_s,
        fps=fps,
        seek=seek,
        strategy=strategy,
    )
    generation = GenerationConfig(max_tokens=max_tokens, temperature=temperature, seed=seed)
    hearing = HearingConfig(speech=speech, track=audio_track)
    session = open_model(model, reporter)
    return analyze_video(
        session, video_path, prompt, system, sampling, generation, on_token, hearing
    )
