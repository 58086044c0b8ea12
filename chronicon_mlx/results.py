"""Result records and their JSON form."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

SCHEMA_VERSION = 1


@dataclass(frozen=True)
class FrameRef:
    """A sampled frame as recorded: stream index and presentation time."""

    index: int
    timestamp_s: float


@dataclass
class AnalysisResult:
    """Everything one `analyze` run produced and how it was produced."""

    video_path: str
    prompt: str
    system: str | None
    custom_prompt: bool
    analysis: str
    model: str
    model_path: str
    random_weights: bool
    backend: str
    device: str
    dtype: str
    backend_details: dict[str, str]
    quantization: str | None
    fallbacks: list[dict[str, str]]
    requested_frames: int
    start_s: float
    end_s: float | None
    sampling_fps: float | None
    decoder: str
    seek: str
    strategy: str
    frames: list[FrameRef]
    resize: int
    max_tokens: int
    temperature: float
    seed: int | None
    prompt_tokens: int
    generated_tokens: int
    prompt_tps: float
    generation_tps: float
    peak_memory_gb: float
    finish_reason: str
    stages: dict[str, float]
    video: dict[str, Any]
    started_at: datetime
    notes: list[str] = field(default_factory=list)

    @property
    def model_load_time(self) -> float:
        """Seconds spent loading the model."""
        return self.stages.get("load", 0.0)

    @property
    def inference_time(self) -> float:
        """Seconds spent preprocessing, prefilling and decoding."""
        return sum(self.stages.get(s, 0.0) for s in ("preprocess", "prefill", "generate"))

    @property
    def total_time(self) -> float:
        """Seconds for the whole run, every stage included."""
        return sum(self.stages.values())

    def to_dict(self) -> dict[str, Any]:
        """The JSON record (a superset of the original tool's keys)."""
        from . import __version__

        modified = datetime.fromtimestamp(self.video["modified"], tz=timezone.utc)
        return {
            "schema_version": SCHEMA_VERSION,
            "chronicon_version": __version__,
            "video_path": self.video_path,
            "prompt": self.prompt,
            "system": self.system,
            "num_frames": len(self.frames),
            "resize": self.resize,
            "max_tokens": self.max_tokens,
            "analysis": self.analysis,
            "timestamp": self.started_at.isoformat(timespec="seconds"),
            "model": self.model,
            "model_path": self.model_path,
            "random_weights": self.random_weights,
            "backend": self.backend,
            "device": self.device,
            "dtype": self.dtype,
            "backend_details": dict(self.backend_details),
            "quantization": self.quantization,
            "fallbacks": list(self.fallbacks),
            "inference_parameters": {
                "num_frames": len(self.frames),
                "requested_frames": self.requested_frames,
                "start_s": self.start_s,
                "end_s": self.end_s,
                "fps": self.sampling_fps,
                "sampling": self.strategy,
                "seek": self.seek,
                "decoder": self.decoder,
                "resize": self.resize,
                "max_tokens": self.max_tokens,
                "temperature": self.temperature,
                "seed": self.seed,
                "custom_prompt": self.custom_prompt,
            },
            "frames": [
                {"index": f.index, "timestamp_s": round(f.timestamp_s, 3)} for f in self.frames
            ],
            "tokens": {
                "prompt": self.prompt_tokens,
                "generated": self.generated_tokens,
                "prompt_tps": round(self.prompt_tps, 2),
                "generation_tps": round(self.generation_tps, 2),
            },
            "finish_reason": self.finish_reason,
            "peak_memory_gb": round(self.peak_memory_gb, 4),
            "timing": {
                "model_load_time": round(self.model_load_time, 4),
                "inference_time": round(self.inference_time, 4),
                "total_time": round(self.total_time, 4),
                "stages": {stage: round(s, 4) for stage, s in self.stages.items()},
            },
            "video_info": {
                "file_size_mb": round(self.video["file_size_bytes"] / 1e6, 3),
                "last_modified": modified.isoformat(timespec="seconds"),
                "duration_s": round(self.video["duration_s"], 3),
                "fps": round(self.video["fps"], 3),
                "width": self.video["width"],
                "height": self.video["height"],
                "frame_count": self.video["frame_count"],
                "codec": self.video["codec"],
                "variable_frame_rate": self.video["variable_frame_rate"],
            },
            "notes": list(self.notes),
        }
