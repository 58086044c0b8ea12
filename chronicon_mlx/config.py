"""Validated, frozen settings for sampling and generation."""

from __future__ import annotations

from dataclasses import dataclass

from .errors import UsageError

MIN_FRAMES = 1
MAX_FRAMES = 64
DEFAULT_FRAMES = 8
DEFAULT_MAX_TOKENS = 256
MAX_MAX_TOKENS = 8192
DEFAULT_PROMPT = "Describe what happens in this video."


@dataclass(frozen=True)
class SamplingConfig:
    """Which frames to take: how many (or how many per second), from which time range, and
    the longest edge (pixels) they are shrunk to.

    `resize=None` means the model's own frame size; `end_s=None` the end of the video.
    `fps`, when set, replaces `frames` (capped at 64).
    """

    frames: int = DEFAULT_FRAMES
    resize: int | None = None
    start_s: float = 0.0
    end_s: float | None = None
    fps: float | None = None
    seek: str = "exact"
    strategy: str = "uniform"

    def __post_init__(self) -> None:
        if self.strategy not in ("uniform", "scene"):
            raise UsageError(
                f"unknown --sampling strategy '{self.strategy}'",
                hint="uniform (evenly spread) or scene (prefer frames after scene changes)",
            )
        if self.seek not in ("exact", "keyframe"):
            raise UsageError(
                f"unknown --seek mode '{self.seek}'",
                hint="exact (the frames asked for) or keyframe (nearest keyframes, fastest)",
            )
        if self.fps is not None and not 0 < self.fps <= 60:
            raise UsageError(
                f"--fps must be above 0 and at most 60 (got {self.fps:g})",
                hint="0.5-2 frames per second suit most clips",
            )
        if self.end_s is not None and self.end_s <= self.start_s:
            raise UsageError(
                f"--end ({self.end_s:g} s) must come after --start ({self.start_s:g} s)",
                hint="give a range such as --start 1:00 --end 2:30",
            )
        if not MIN_FRAMES <= self.frames <= MAX_FRAMES:
            raise UsageError(
                f"--frames must be between {MIN_FRAMES} and {MAX_FRAMES} (got {self.frames})",
                hint="8-16 frames spread over the clip usually work best",
            )
        if self.resize is not None and not 16 <= self.resize <= 8192:
            raise UsageError(
                f"--resize must be between 16 and 8192 pixels (got {self.resize})",
                hint="leave it out to use the model's own frame size",
            )


@dataclass(frozen=True)
class GenerationConfig:
    """How to generate: token budget, temperature (0 = greedy) and an optional seed."""

    max_tokens: int = DEFAULT_MAX_TOKENS
    temperature: float = 0.0
    seed: int | None = None
    ignore_eos: bool = False

    def __post_init__(self) -> None:
        if not 1 <= self.max_tokens <= MAX_MAX_TOKENS:
            raise UsageError(
                f"--max-tokens must be between 1 and {MAX_MAX_TOKENS} (got {self.max_tokens})",
                hint="a few hundred tokens are enough for a paragraph",
            )
        if not 0.0 <= self.temperature <= 5.0:
            raise UsageError(
                f"--temperature must be between 0 and 5 (got {self.temperature})",
                hint="0 is greedy and reproducible; 0.2-0.8 adds variety",
            )


def check_text(value: str | None, option: str) -> str | None:
    """Strip a prompt; reject one that is given but empty or blank."""
    if value is None:
        return None
    stripped = value.strip()
    if not stripped:
        raise UsageError(f"{option} is empty", hint=f"give {option} some text, or leave it out")
    return stripped


def frames_for_fps(fps: float, seconds: float) -> tuple[int, bool]:
    """Frames that `fps` asks for over `seconds`, capped at MAX_FRAMES; and whether capped."""
    wanted = max(1, round(fps * seconds))
    return min(wanted, MAX_FRAMES), wanted > MAX_FRAMES
