"""analyze: probe → sample → load → prompt → generate, on a model session; no printing."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from ..backends import GenerationOutput, GenerationRequest
from ..media.decode import decoder_for
from ..model.context import check_fits, check_user_text
from ..model.prompt import build_prompt, load_chat_template
from ..options.choices import (
    DEFAULT_FRAMES,
    DEFAULT_MAX_TOKENS,
    DEFAULT_MODEL,
    DEFAULT_PROMPT,
    Quantize,
    Seek,
    Strategy,
    check_text,
)
from ..progress import Reporter
from .frames import sample_video
from .params import GenerationConfig, SamplingConfig
from .result import AnalysisResult, FrameRef, Usage, VideoFacts
from .runlog import RunLog
from .session import RANDOM_WEIGHTS_NOTE, LoadedModel, ModelSession

TokenCallback = Callable[[str], None]


def analyze_video(
    session: ModelSession,
    video_path: str | Path,
    prompt: str | None = None,
    system: str | None = None,
    sampling: SamplingConfig | None = None,
    generation: GenerationConfig | None = None,
    on_token: TokenCallback | None = None,
) -> AnalysisResult:
    """Answer `prompt` about one video with the session's model (loaded on first use).

    `on_token` receives the answer's text as it is generated.
    """
    sampling = sampling or SamplingConfig()
    generation = generation or GenerationConfig()
    question = check_text(prompt, "prompt")
    system = check_text(system, "system")
    check_user_text(session.model, {"prompt": question, "system": system})
    run = RunLog(session.reporter)
    video = sample_video(video_path, sampling, session.model.frame_size, run)

    def render(template: str) -> str:
        text = question or DEFAULT_PROMPT
        return build_prompt(template, text, video.times, video.info.duration_s, system)

    planned = render(load_chat_template(session.model.path))
    count = len(video.frames)
    counted = check_fits(session.model, planned, count, generation.max_tokens)
    loaded = session.load_stage(run, count, generation.max_tokens, counted)
    if loaded.model.random_weights:
        run.note(RANDOM_WEIGHTS_NOTE)
    request = GenerationRequest(
        frames=video.images,
        prompt=render(loaded.chat_template),
        max_tokens=generation.max_tokens,
        temperature=generation.temperature,
        seed=generation.seed,
        ignore_eos=generation.ignore_eos,
    )
    output = generate_reported(loaded, request, session.reporter, on_token)
    run.timings.update(output.stages)
    return AnalysisResult(
        video=VideoFacts.from_info(video.info),
        prompt=question or DEFAULT_PROMPT,
        system=system,
        custom_prompt=question is not None,
        analysis=output.text,
        model=loaded.info,
        backend_info=loaded.backend.info,
        sampling=sampling,
        generation=generation,
        requested_frames=video.wanted,
        decoder=decoder_for(video.info, sampling.seek),
        resize=video.resize,
        frames=[FrameRef(f.index, f.timestamp_s) for f in video.frames],
        usage=Usage.from_output(output),
        stages=run.timings,
        started_at=run.started_at,
        notes=run.notes,
    )


def generate_reported(
    loaded: LoadedModel,
    request: GenerationRequest,
    reporter: Reporter,
    on_token: TokenCallback | None = None,
) -> GenerationOutput:
    """Run one request, reporting its "prefill" and "generate" stages and each token."""
    start = time.perf_counter()
    streamed = 0

    def token(piece: str) -> None:
        nonlocal streamed
        if not streamed:
            reporter.stage_finished("prefill", time.perf_counter() - start)
            reporter.stage_started("generate", total=request.max_tokens)
        streamed += 1
        reporter.stage_advanced("generate", 1, piece)
        if on_token is not None:
            on_token(piece)

    reporter.stage_started("prefill")
    output = loaded.backend.generate(request, token)
    if not streamed:
        reporter.stage_finished("prefill", output.stages.get("prefill", 0.0))
        reporter.stage_started("generate", total=request.max_tokens)
    reporter.stage_finished("generate", output.stages.get("generate", 0.0))
    return output


class Analyzer(ModelSession):
    """A model session with an `analyze` method: load once, analyze many videos."""

    def analyze(
        self,
        video_path: str | Path,
        prompt: str | None = None,
        system: str | None = None,
        sampling: SamplingConfig | None = None,
        generation: GenerationConfig | None = None,
        on_token: TokenCallback | None = None,
    ) -> AnalysisResult:
        """Answer `prompt` about one video (see `analyze_video`)."""
        return analyze_video(self, video_path, prompt, system, sampling, generation, on_token)


def analyze(
    video_path: str | Path,
    prompt: str | None = None,
    *,
    system: str | None = None,
    model: str = DEFAULT_MODEL,
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
    backend: str = "auto",
    device: str = "auto",
    dtype: str = "auto",
    quantize: Quantize = "auto",
    reporter: Reporter | None = None,
    on_token: TokenCallback | None = None,
) -> AnalysisResult:
    """Analyze one video with a SmolVLM2 model and return the result (nothing is printed)."""
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
    session = ModelSession(
        model=model,
        backend=backend,
        device=device,
        dtype=dtype,
        quantize=quantize,
        reporter=reporter,
    )
    return analyze_video(session, video_path, prompt, system, sampling, generation, on_token)
