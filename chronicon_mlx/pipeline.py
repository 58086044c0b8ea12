"""analyze(): probe → sample → load → prompt → generate, with no printing."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

from . import memory, models, prompts, scenes, video
from .backends import (
    BACKENDS,
    Backend,
    Candidate,
    GenerationOutput,
    GenerationRequest,
    candidates,
    create,
)
from .config import (
    DEFAULT_PROMPT,
    MAX_FRAMES,
    GenerationConfig,
    SamplingConfig,
    check_text,
    frames_for_fps,
)
from .errors import (
    BackendError,
    ChroniconError,
    ModelError,
    ResourceError,
    UsageError,
    VideoError,
)
from .events import NullReporter, Reporter, timed
from .results import AnalysisResult, FrameRef

QUANTIZE_CHOICES = ("none", "4bit", "8bit")
RANDOM_WEIGHTS_NOTE = (
    "this checkpoint has random weights (built offline for testing): its answer is noise"
)


class Analyzer:
    """Resolves a model, loads it once on first use, and analyzes any number of videos.

    With `backend="auto"` the backends are tried best first (see backends.candidates); one
    that is not installed or fails to load is skipped with a note, and the record lists it.
    """

    def __init__(
        self,
        model: str = models.DEFAULT_MODEL,
        backend: str = "auto",
        device: str = "auto",
        dtype: str = "auto",
        quantize: str | None = None,
        reporter: Reporter | None = None,
        allow_download: bool = True,
    ) -> None:
        if quantize not in (None, *QUANTIZE_CHOICES):
            raise UsageError(f"unknown quantization '{quantize}'", hint="choose none, 4bit or 8bit")
        self.reporter: Reporter = reporter or NullReporter()
        self.requested_model = model
        self.candidates = candidates(backend, device)
        self.explicit = backend != "auto"
        self.dtype = dtype
        self.quantize_request = quantize
        self.allow_download = allow_download
        self.fallbacks: list[dict[str, str]] = []
        self.quantize: str | None = None
        self.load_notes: list[str] = []
        self.model = self._resolve(self.candidates[0])
        self.chat_template = prompts.load_chat_template(self.model.path)
        self.backend: Backend | None = None

    def _resolve(self, candidate: Candidate) -> models.ModelRef:
        return models.resolve(
            self.requested_model,
            prefer_mlx=candidate.backend == "mlx",
            allow_download=self.allow_download,
        )

    def load(self, frames: int = 8, max_tokens: int = 256) -> float:
        """Load the model (once) on the first candidate that works; return the seconds taken.

        The memory check runs before any weights load: a run that cannot fit stops here,
        and one that fits only quantized is quantized when --quantize was left unset.
        """
        if self.backend is not None:
            return 0.0
        start = time.perf_counter()
        for position, candidate in enumerate(self.candidates):
            last = position == len(self.candidates) - 1
            try:
                backend = create(candidate, dtype=self.dtype)
                model = self.model if position == 0 else self._resolve(candidate)
                quantize = self._check_memory(backend, model, frames, max_tokens)
                notes = backend.load(model, quantize=quantize)
            except (BackendError, ModelError, ImportError, RuntimeError, MemoryError) as exc:
                if self.explicit or last:
                    if isinstance(exc, ChroniconError):
                        raise
                    raise BackendError(
                        f"the {candidate.backend} backend failed to load: {_reason(exc)}",
                        hint=BACKENDS[candidate.backend].install,
                    ) from exc
                following = self.candidates[position + 1]
                reason = _reason(exc)
                self.fallbacks.append(
                    {"backend": candidate.backend, "device": candidate.device, "reason": reason}
                )
                self.reporter.note(f"{candidate} cannot run: {reason}; trying {following}")
                continue
            self.backend, self.model, self.quantize = backend, model, quantize
            self.load_notes = notes
            self.chat_template = prompts.load_chat_template(model.path)
            break
        return time.perf_counter() - start

    def load_stage(
        self,
        frames: int,
        max_tokens: int,
        timings: dict[str, float],
        note: Callable[[str], None],
    ) -> None:
        """`load` as a reported stage: its seconds go to `timings`, its notes to `note`."""
        self.reporter.stage_started("load")
        seconds = self.load(frames, max_tokens)
        timings["load"] = seconds
        self.reporter.stage_finished("load", seconds)
        for message in self.load_notes if seconds else []:
            note(message)

    def _check_memory(
        self, backend: Backend, model: models.ModelRef, frames: int, max_tokens: int
    ) -> str | None:
        info = backend.info
        wanted = None if self.quantize_request in (None, "none") else self.quantize_request
        have, source = memory.available_bytes(info.device)
        need = memory.estimate(model.config, info.dtype, wanted, frames, max_tokens)
        if need.total <= have:
            return wanted
        if self.quantize_request is None:
            for bits in ("8bit", "4bit"):
                if (
                    memory.estimate(model.config, info.dtype, bits, frames, max_tokens).total
                    <= have
                ):
                    self.reporter.note(
                        f"{model.name} needs about {memory.gb(need.total)} in {info.dtype} but"
                        f" {source} is {memory.gb(have)}: using the {bits} variant"
                    )
                    return bits
        raise ResourceError(
            f"{model.name} with {frames} frames needs about {memory.gb(need.total)}"
            f" (weights {memory.gb(need.weights)}, vision {memory.gb(need.vision)},"
            f" KV cache {memory.gb(need.kv_cache)}) but {source} is {memory.gb(have)}",
            hint="use a smaller model (--model 256m), fewer --frames, or --quantize 4bit",
        )

    def analyze(
        self,
        video_path: str | Path,
        prompt: str | None = None,
        system: str | None = None,
        sampling: SamplingConfig | None = None,
        generation: GenerationConfig | None = None,
    ) -> AnalysisResult:
        """Answer `prompt` about one video."""
        sampling = sampling or SamplingConfig()
        generation = generation or GenerationConfig()
        user_prompt = check_text(prompt, "--prompt")
        system = check_text(system, "--system")
        started_at = datetime.now(timezone.utc)
        report = self.reporter
        timings: dict[str, float] = {}
        notes: list[str] = []

        def note(message: str) -> None:
            notes.append(message)
            report.note(message)

        path = Path(video_path).expanduser()
        with timed(report, "probe", timings):
            info = video.probe(path)
        resize = sampling.resize or self.model.frame_size
        with timed(report, "sample", timings):
            frames, wanted = self._sample(info, sampling, resize, note)
        self.load_stage(len(frames), generation.max_tokens, timings, note)
        if self.model.random_weights:
            note(RANDOM_WEIGHTS_NOTE)
        backend = self.backend
        assert backend is not None

        text = prompts.build_prompt(
            self.chat_template,
            user_prompt or DEFAULT_PROMPT,
            [frame.timestamp_s for frame in frames],
            info.duration_s,
            system,
        )
        request = GenerationRequest(
            frames=[frame.image for frame in frames],
            prompt=text,
            max_tokens=generation.max_tokens,
            temperature=generation.temperature,
            seed=generation.seed,
            ignore_eos=generation.ignore_eos,
        )
        output = self._generate(backend, request)
        timings.update(output.stages)
        info_backend = backend.info
        return AnalysisResult(
            video_path=str(info.path),
            prompt=user_prompt or DEFAULT_PROMPT,
            system=system,
            custom_prompt=user_prompt is not None,
            analysis=output.text,
            model=self.model.name,
            model_path=str(self.model.path),
            random_weights=self.model.random_weights,
            backend=info_backend.name,
            device=info_backend.device,
            dtype=info_backend.dtype,
            backend_details=dict(info_backend.details),
            quantization=self.quantize,
            fallbacks=list(self.fallbacks),
            requested_frames=wanted,
            start_s=sampling.start_s,
            end_s=sampling.end_s,
            sampling_fps=sampling.fps,
            decoder=video.decoder_for(info, sampling.seek),
            seek=sampling.seek,
            strategy=sampling.strategy,
            frames=[FrameRef(f.index, f.timestamp_s) for f in frames],
            resize=resize,
            max_tokens=generation.max_tokens,
            temperature=generation.temperature,
            seed=generation.seed,
            prompt_tokens=output.prompt_tokens,
            generated_tokens=output.generated_tokens,
            prompt_tps=output.prompt_tps,
            generation_tps=output.generation_tps,
            peak_memory_gb=output.peak_memory_gb,
            finish_reason=output.finish_reason,
            stages=timings,
            video={
                "file_size_bytes": info.file_size_bytes,
                "modified": info.modified,
                "duration_s": info.duration_s,
                "fps": info.fps,
                "width": info.width,
                "height": info.height,
                "frame_count": info.frame_count,
                "codec": info.codec,
                "variable_frame_rate": info.variable_frame_rate,
            },
            started_at=started_at,
            notes=notes,
        )

    def _sample(
        self,
        info: video.VideoInfo,
        sampling: SamplingConfig,
        resize: int,
        note: Callable[[str], None],
    ) -> tuple[list[video.Frame], int]:
        """Plan and decode the frames; note every way the result falls short of the request."""
        first, stop = video.frame_range(info, sampling.start_s, sampling.end_s)
        wanted = sampling.frames
        if sampling.fps is not None:
            wanted, capped = frames_for_fps(sampling.fps, video.range_seconds(info, first, stop))
            if capped:
                note(
                    f"--fps {sampling.fps:g} asks for more than {MAX_FRAMES} frames; using {wanted}"
                )
        if sampling.strategy == "scene":
            indices = scenes.choose(info, first, stop, wanted, sampling.seek)
        else:
            indices = video.plan(info, first, stop, wanted, sampling.seek)
        frames = video.sample(info, indices, resize, sampling.seek)
        if not frames:
            raise VideoError(
                f"{info.path} has no decodable video frames",
                hint="it may be damaged; check it in a video player",
            )
        whole = (first, stop) == (0, info.frame_count)
        if stop - first < wanted:
            reason = f"the {'clip' if whole else 'range'} has only {stop - first} frames"
        elif sampling.seek == "keyframe":
            reason = f"only {len(frames)} distinct keyframes lie near the wanted times"
        elif len(indices) < wanted:
            reason = f"only {len(indices)} distinct frames lie near the wanted times"
        else:
            reason = f"{len(indices) - len(frames)} frames could not be decoded"
        if len(frames) < wanted:
            note(f"using {len(frames)} of {wanted} requested frames: {reason}")
        return frames, wanted

    def _generate(self, backend: Backend, request: GenerationRequest) -> GenerationOutput:
        report = self.reporter
        start = time.perf_counter()
        streamed = 0

        def on_token(piece: str) -> None:
            nonlocal streamed
            if not streamed:
                report.stage_finished("prefill", time.perf_counter() - start)
                report.stage_started("generate", total=request.max_tokens)
            streamed += 1
            report.stage_advanced("generate", 1, piece)

        report.stage_started("prefill")
        output = backend.generate(request, on_token)
        if not streamed:
            report.stage_finished("prefill", output.stages.get("prefill", 0.0))
            report.stage_started("generate", total=request.max_tokens)
        report.stage_finished("generate", output.stages.get("generate", 0.0))
        return output


def analyze(
    video_path: str | Path,
    prompt: str | None = None,
    *,
    system: str | None = None,
    model: str = models.DEFAULT_MODEL,
    frames: int = 8,
    resize: int | None = None,
    max_tokens: int = 256,
    temperature: float = 0.0,
    seed: int | None = None,
    backend: str = "auto",
    device: str = "auto",
    dtype: str = "auto",
    quantize: str | None = None,
    reporter: Reporter | None = None,
) -> AnalysisResult:
    """Analyze one video with a SmolVLM2 model and return the result (nothing is printed)."""
    sampling = SamplingConfig(frames=frames, resize=resize)
    generation = GenerationConfig(max_tokens=max_tokens, temperature=temperature, seed=seed)
    analyzer = Analyzer(
        model=model,
        backend=backend,
        device=device,
        dtype=dtype,
        quantize=quantize,
        reporter=reporter,
    )
    return analyzer.analyze(video_path, prompt, system, sampling, generation)


def _reason(exc: BaseException) -> str:
    text = exc.message if isinstance(exc, ChroniconError) else str(exc)
    first = text.strip().splitlines()[0] if text.strip() else ""
    return f"{type(exc).__name__}: {first}" if not isinstance(exc, ChroniconError) else first
