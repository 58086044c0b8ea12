"""analyze(): probe → sample → load → prompt → generate, with no printing."""

from __future__ import annotations

import time
from datetime import datetime, timezone
from pathlib import Path

from . import models, prompts, video
from .backends import Backend, GenerationOutput, GenerationRequest, create
from .config import DEFAULT_PROMPT, GenerationConfig, SamplingConfig, check_text
from .errors import VideoError
from .events import NullReporter, Reporter, timed
from .results import AnalysisResult, FrameRef

RANDOM_WEIGHTS_NOTE = (
    "this checkpoint has random weights (built offline for testing): its answer is noise"
)


class Analyzer:
    """Resolves a model, loads it once on first use, and analyzes any number of videos."""

    def __init__(
        self,
        model: str = models.DEFAULT_MODEL,
        backend: str = "auto",
        dtype: str = "auto",
        reporter: Reporter | None = None,
        allow_download: bool = True,
    ) -> None:
        self.reporter: Reporter = reporter or NullReporter()
        self.backend: Backend = create(backend, dtype=dtype)
        self.model = models.resolve(
            model, prefer_mlx=self.backend.info.name == "mlx", allow_download=allow_download
        )
        self.chat_template = prompts.load_chat_template(self.model.path)
        self._loaded = False

    def load(self) -> float:
        """Load the model if it is not loaded yet; return the seconds it took (0 if loaded)."""
        if self._loaded:
            return 0.0
        start = time.perf_counter()
        self.backend.load(self.model)
        self._loaded = True
        return time.perf_counter() - start

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
            indices = video.plan_indices(info.frame_count, sampling.frames)
            frames = video.sample(info, indices, resize)
        if not frames:
            raise VideoError(
                f"{path} has no decodable video frames",
                hint="it may be damaged; check it in a video player",
            )
        if len(frames) < sampling.frames:
            reason = (
                f"the clip has only {info.frame_count} frames"
                if info.frame_count < sampling.frames
                else f"{len(indices) - len(frames)} frames could not be decoded"
            )
            note(f"using {len(frames)} of {sampling.frames} requested frames: {reason}")

        if self.model.random_weights:
            note(RANDOM_WEIGHTS_NOTE)
        report.stage_started("load")
        load_s = self.load()
        timings["load"] = load_s
        report.stage_finished("load", load_s)

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
        )
        output = self._generate(request)
        timings.update(output.stages)
        info_backend = self.backend.info
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
            requested_frames=sampling.frames,
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
            },
            started_at=started_at,
            notes=notes,
        )

    def _generate(self, request: GenerationRequest) -> GenerationOutput:
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
        output = self.backend.generate(request, on_token)
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
    reporter: Reporter | None = None,
) -> AnalysisResult:
    """Analyze one video with a SmolVLM2 model and return the result (nothing is printed)."""
    sampling = SamplingConfig(frames=frames, resize=resize)
    generation = GenerationConfig(max_tokens=max_tokens, temperature=temperature, seed=seed)
    analyzer = Analyzer(model=model, backend=backend, reporter=reporter)
    return analyzer.analyze(video_path, prompt, system, sampling, generation)
