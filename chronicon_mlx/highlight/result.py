"""What a highlights run produced: each window's answer, the ranked highlights, and the
run's record."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from ..analysis.result import SCHEMA_VERSION, ModelInfo
from ..timecodes import format_time

if TYPE_CHECKING:
    from ..audio.hear import Hearing
    from ..backends.base import BackendInfo
    from ..media.probe import VideoInfo
    from ..options.profiles import Profile
    from .params import HighlightsConfig


def _time_range(start_s: float, end_s: float) -> dict[str, Any]:
    return {
        "start_s": round(start_s, 3),
        "end_s": round(end_s, 3),
        "start": format_time(start_s),
        "end": format_time(end_s),
    }


@dataclass(frozen=True)
class WindowResult:
    """One window's answer. `significance` is None when the answer could not be scored;
    `generate_s` is the time spent asking the model (not a time in the video)."""

    number: int
    start_s: float
    end_s: float
    description: str | None
    significance: int | None
    raw: str
    attempts: int
    frame_indices: list[int]
    frame_times: list[float]
    thumbnail: str | None
    generate_s: float
    prompt_tokens: int
    cached_tokens: int
    generated_tokens: int
    constrained: bool
    encoded_frames: int = 0
    """Frames this window sent through the vision tower (the others' features were kept
    from earlier windows); not kept in the checkpoint."""
    loudness_lufs: float | None = None
    """The window's loudness (measured when the ranking weighs it; not in the checkpoint)."""
    excitement: float | None = None
    """How much louder than the video's median second the window is (LU)."""

    def score(self, audio_weight: float) -> float:
        """What the ranking orders by: the model's significance, plus `audio_weight` times
        the window's excitement in LU (from 0 to 10: quieter than the median adds nothing,
        10 LU or more adds the most)."""
        cue = min(10.0, max(0.0, self.excitement or 0.0))
        return float(self.significance or 0) + audio_weight * cue

    def to_dict(self, timing: bool = True) -> dict[str, Any]:
        """The window as JSON data (with its generation time as `seconds` for the checkpoint
        line)."""
        data = {
            "window": self.number,
            **_time_range(self.start_s, self.end_s),
            "description": self.description,
            "significance": self.significance,
            "raw": self.raw,
            "attempts": self.attempts,
            "frames": self.frame_indices,
            "frame_times_s": [round(t, 3) for t in self.frame_times],
            "thumbnail": self.thumbnail,
            "seconds": round(self.generate_s, 4),
            "prompt_tokens": self.prompt_tokens,
            "cached_tokens": self.cached_tokens,
            "generated_tokens": self.generated_tokens,
            "constrained": self.constrained,
        }
        if self.loudness_lufs is not None:
            data["loudness_lufs"] = round(self.loudness_lufs, 1)
            data["excitement_lu"] = self.excitement
        if not timing:
            del data["seconds"]
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> WindowResult:
        """Read a window back from its JSON data."""
        return cls(
            number=int(data["window"]),
            start_s=float(data["start_s"]),
            end_s=float(data["end_s"]),
            description=data["description"],
            significance=data["significance"],
            raw=str(data["raw"]),
            attempts=int(data["attempts"]),
            frame_indices=[int(i) for i in data["frames"]],
            frame_times=[float(t) for t in data["frame_times_s"]],
            thumbnail=data["thumbnail"],
            generate_s=float(data.get("seconds", 0.0)),
            prompt_tokens=int(data["prompt_tokens"]),
            cached_tokens=int(data["cached_tokens"]),
            generated_tokens=int(data["generated_tokens"]),
            constrained=bool(data["constrained"]),
        )


@dataclass
class Highlight:
    """A moment worth watching: one window, or several merged that describe it."""

    start_s: float
    end_s: float
    description: str
    significance: int
    windows: list[int]
    frame_index: int
    frame_time_s: float
    thumbnail: str | None
    rank: int = 0
    score: float = 0.0
    """The ranking's number (the significance when loudness does not count)."""
    speech: str | None = None
    """What was said during the highlight (None: nothing heard, or speech off)."""

    def to_dict(self) -> dict[str, Any]:
        """The highlight as JSON data."""
        return {
            "rank": self.rank,
            **_time_range(self.start_s, self.end_s),
            "description": self.description,
            "significance": self.significance,
            "score": round(self.score, 2),
            "speech": self.speech,
            "windows": self.windows,
            "frame": {
                "index": self.frame_index,
                "timestamp_s": round(self.frame_time_s, 3),
                "thumbnail": self.thumbnail,
            },
        }


@dataclass
class HighlightsResult:
    """Everything a highlights run produced, and what it ran with.

    `parameters` are the settings that decide each window's answer (the resume key); the
    model never ran when every window was resumed, and `backend_info` is then None.
    """

    source: VideoInfo
    profile: Profile
    config: HighlightsConfig
    parameters: dict[str, Any]
    windows: list[WindowResult]
    highlights: list[Highlight]
    model: ModelInfo
    backend_info: BackendInfo | None
    decoder: str
    timings: dict[str, float]
    started_at: datetime
    resumed_windows: int = 0
    notes: list[str] = field(default_factory=list)
    audio: Hearing | None = None
    """What was heard (loudness, and the transcript when speech was on)."""

    @property
    def video_path(self) -> str:
        """The video's path."""
        return str(self.source.path)

    @property
    def unscored(self) -> int:
        """How many windows have no score."""
        return sum(1 for w in self.windows if w.significance is None)

    def to_dict(self) -> dict[str, Any]:
        """The JSON record."""
        from .. import __version__

        info, backend = self.source, self.backend_info
        generated = [w.generate_s for w in self.windows]
        kept = {k: v for k, v in self.parameters.items() if k not in ("video", "backend", "device")}
        return {
            "schema_version": SCHEMA_VERSION,
            "chronicon_version": __version__,
            "kind": "highlights",
            "video_path": self.video_path,
            "video_info": {
                "duration_s": round(info.duration_s, 3),
                "fps": round(info.fps, 3),
                "width": info.width,
                "height": info.height,
                "frame_count": info.frame_count,
                "codec": info.codec,
                "file_size_mb": round(info.file_size_bytes / 1e6, 3),
            },
            "profile": {"name": self.profile.name, "source": self.profile.source},
            "parameters": {
                **kept,
                "min_significance": self.config.min_significance,
                "max_highlights": self.config.max_highlights,
                "windows": len(self.windows),
                "decoder": self.decoder,
            },
            "model": self.model.name,
            "random_weights": self.model.random_weights,
            "backend": backend.name if backend else None,
            "device": backend.device if backend else None,
            "dtype": backend.dtype if backend else None,
            "highlights": [h.to_dict() for h in self.highlights],
            "audio": self.audio.to_dict() if self.audio else None,
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
