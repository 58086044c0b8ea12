"""The result of analyzing one video, nesting what it ran with, and its JSON record."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypedDict

from .params import GenerationConfig, SamplingConfig

if TYPE_CHECKING:
    from ..audio.hear import Hearing
    from ..backends.base import BackendInfo, GenerationOutput
    from ..media.probe import VideoInfo

SCHEMA_VERSION = 1


class Fallback(TypedDict):
    """A backend that was skipped, and why."""

    backend: str
    device: str
    reason: str


@dataclass(frozen=True)
class FrameRef:
    """A sampled frame as recorded: stream index and presentation time."""

    index: int
    timestamp_s: float


@dataclass(frozen=True)
class VideoFacts:
    """What a video file was when it was analyzed."""

    path: str
    file_size_bytes: int
    modified: float
    duration_s: float
    fps: float
    width: int
    height: int
    frame_count: int
    codec: str
    variable_frame_rate: bool

    @classmethod
    def from_info(cls, info: VideoInfo) -> VideoFacts:
        """The facts of a probed video."""
        return cls(
            path=str(info.path),
            file_size_bytes=info.file_size_bytes,
            modified=info.modified,
            duration_s=info.duration_s,
            fps=info.fps,
            width=info.width,
            height=info.height,
            frame_count=info.frame_count,
            codec=info.codec,
            variable_frame_rate=info.variable_frame_rate,
        )

    @property
    def name(self) -> str:
        """The file name."""
        return Path(self.path).name

    @property
    def last_modified(self) -> str:
        """The modification time, ISO 8601 in UTC."""
        return datetime.fromtimestamp(self.modified, tz=timezone.utc).isoformat(timespec="seconds")


@dataclass(frozen=True)
class ModelInfo:
    """Which checkpoint answered, how it was loaded, and what was tried before it."""

    name: str
    path: str
    random_weights: bool
    quantization: str | None = None
    fallbacks: tuple[Fallback, ...] = ()


@dataclass(frozen=True)
class Usage:
    """Tokens, speeds and memory of one answer."""

    prompt_tokens: int
    generated_tokens: int
    prompt_tps: float
    generation_tps: float
    peak_memory_gb: float
    finish_reason: str
    cached_tokens: int = 0
    encoded_frames: int = 0
    """`cached_tokens`: prompt tokens of the shared prefix (the video); `encoded_frames`:
    frames that went through the vision tower for this answer."""

    @classmethod
    def from_output(cls, output: GenerationOutput) -> Usage:
        """The usage a backend reported."""
        return cls(
            prompt_tokens=output.prompt_tokens,
            generated_tokens=output.generated_tokens,
            prompt_tps=output.prompt_tps,
            generation_tps=output.generation_tps,
            peak_memory_gb=output.peak_memory_gb,
            finish_reason=output.finish_reason,
            cached_tokens=output.cached_tokens,
            encoded_frames=output.encoded_frames,
        )


@dataclass
class AnalysisResult:
    """Everything one `analyze` run produced and how it was produced."""

    video: VideoFacts
    prompt: str
    system: str | None
    custom_prompt: bool
    analysis: str
    model: ModelInfo
    backend_info: BackendInfo
    sampling: SamplingConfig
    generation: GenerationConfig
    requested_frames: int
    decoder: str
    resize: int
    frames: list[FrameRef]
    usage: Usage
    stages: dict[str, float]
    started_at: datetime
    notes: list[str] = field(default_factory=list)
    profile: str | None = None
    answers: list[Answer] = field(default_factory=list)
    """Every question's answer when several were asked (the first is also `prompt`,
    `analysis` and `usage`); empty for one question."""
    audio: Hearing | None = None
    """What was heard (the track, voice regions, transcript, loudness); None when the
    audio was left alone."""

    @property
    def video_path(self) -> str:
        """The video's path."""
        return self.video.path

    @property
    def backend(self) -> str:
        """The backend that answered ("mlx", "transformers")."""
        return self.backend_info.name

    @property
    def device(self) -> str:
        """The device it ran on."""
        return self.backend_info.device

    @property
    def dtype(self) -> str:
        """The dtype it ran in."""
        return self.backend_info.dtype

    @property
    def backend_details(self) -> dict[str, str]:
        """Library versions, BLAS and other backend facts."""
        return self.backend_info.described

    @property
    def quantization(self) -> str | None:
        """ "4bit"/"8bit" when the model ran quantized."""
        return self.model.quantization

    @property
    def fallbacks(self) -> list[Fallback]:
        """The backends skipped before this one, with their reasons."""
        return list(self.model.fallbacks)

    @property
    def random_weights(self) -> bool:
        """True when the checkpoint's weights are random (its answer is noise)."""
        return self.model.random_weights

    @property
    def prompt_tokens(self) -> int:
        """Tokens of the prompt, images included."""
        return self.usage.prompt_tokens

    @property
    def generated_tokens(self) -> int:
        """Tokens of the answer."""
        return self.usage.generated_tokens

    @property
    def peak_memory_gb(self) -> float:
        """The most memory the backend held while answering."""
        return self.usage.peak_memory_gb

    @property
    def model_load_time(self) -> float:
        """Seconds spent importing the backend's libraries and loading the model."""
        return self.stages.get("import", 0.0) + self.stages.get("load", 0.0)

    @property
    def inference_time(self) -> float:
        """Seconds spent preprocessing, encoding frames, prefilling and decoding."""
        stages = ("preprocess", "vision", "prefill", "generate")
        return sum(self.stages.get(s, 0.0) for s in stages)

    @property
    def total_time(self) -> float:
        """Seconds for the whole run, every stage included."""
        return sum(self.stages.values())

    def to_dict(self) -> dict[str, Any]:
        """The JSON record (`schema_version` 1)."""
        from .. import __version__

        video, usage = self.video, self.usage
        return {
            "schema_version": SCHEMA_VERSION,
            "chronicon_version": __version__,
            "video_path": video.path,
            "prompt": self.prompt,
            "system": self.system,
            "num_frames": len(self.frames),
            "resize": self.resize,
            "max_tokens": self.generation.max_tokens,
            "analysis": self.analysis,
            "timestamp": self.started_at.isoformat(timespec="seconds"),
            "model": self.model.name,
            "model_path": self.model.path,
            "random_weights": self.model.random_weights,
            "backend": self.backend_info.name,
            "device": self.backend_info.device,
            "dtype": self.backend_info.dtype,
            "backend_details": self.backend_info.described,
            "quantization": self.model.quantization,
            "fallbacks": [dict(f) for f in self.model.fallbacks],
            "inference_parameters": self._parameters(),
            "frames": [
                {"index": f.index, "timestamp_s": round(f.timestamp_s, 3)} for f in self.frames
            ],
            "tokens": {
                "prompt": usage.prompt_tokens,
                "generated": usage.generated_tokens,
                "prompt_tps": round(usage.prompt_tps, 2),
                "generation_tps": round(usage.generation_tps, 2),
            },
            "finish_reason": usage.finish_reason,
            "peak_memory_gb": round(usage.peak_memory_gb, 4),
            "timing": {
                "model_load_time": round(self.model_load_time, 4),
                "inference_time": round(self.inference_time, 4),
                "total_time": round(self.total_time, 4),
                "stages": {stage: round(s, 4) for stage, s in self.stages.items()},
            },
            "video_info": _video_record(video),
            "audio": self.audio.to_dict() if self.audio else None,
            "notes": list(self.notes),
            "profile": self.profile,
            **({"answers": [turn_record(a) for a in self.answers]} if self.answers else {}),
        }

    def _parameters(self) -> dict[str, Any]:
        sampling, generation = self.sampling, self.generation
        return {
            "num_frames": len(self.frames),
            "requested_frames": self.requested_frames,
            "start_s": sampling.start_s,
            "end_s": sampling.end_s,
            "fps": sampling.fps,
            "sampling": sampling.strategy,
            "seek": sampling.seek,
            "decoder": self.decoder,
            "resize": self.resize,
            "max_tokens": generation.max_tokens,
            "temperature": generation.temperature,
            "seed": generation.seed,
            "custom_prompt": self.custom_prompt,
        }


def _video_record(video: VideoFacts) -> dict[str, Any]:
    return {
        "file_size_mb": round(video.file_size_bytes / 1e6, 3),
        "last_modified": video.last_modified,
        "duration_s": round(video.duration_s, 3),
        "fps": round(video.fps, 3),
        "width": video.width,
        "height": video.height,
        "frame_count": video.frame_count,
        "codec": video.codec,
        "variable_frame_rate": video.variable_frame_rate,
    }


@dataclass(frozen=True)
class Answer:
    """One question's answer, its tokens and its time."""

    question: str
    text: str
    usage: Usage
    stages: dict[str, float]


def turn_record(answer: Answer) -> dict[str, Any]:
    """One answer as JSON data: question, answer, tokens and times."""
    usage = answer.usage
    return {
        "prompt": answer.question,
        "analysis": answer.text,
        "finish_reason": usage.finish_reason,
        "tokens": {
            "prompt": usage.prompt_tokens,
            "reused": usage.cached_tokens,
            "generated": usage.generated_tokens,
            "prompt_tps": round(usage.prompt_tps, 2),
            "generation_tps": round(usage.generation_tps, 2),
        },
        "encoded_frames": usage.encoded_frames,
        "timing": {stage: round(s, 4) for stage, s in answer.stages.items()},
    }
