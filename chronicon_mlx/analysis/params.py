"""Validated, frozen settings for sampling and generation (limits from `options.choices`)."""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import UsageError, field
from ..options import choices
from ..options.choices import DEFAULT_FRAMES, DEFAULT_MAX_TOKENS, Seek, Strategy
from ..options.choices import check_text as check_text


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
    seek: Seek = "exact"
    strategy: Strategy = "uniform"

    def __post_init__(self) -> None:
        if self.strategy not in choices.STRATEGIES:
            raise UsageError(
                f"unknown {field('sampling')} strategy '{self.strategy}'",
                hint="uniform (evenly spread) or scene (prefer frames after scene changes)",
            )
        if self.seek not in choices.SEEKS:
            raise UsageError(
                f"unknown {field('seek')} mode '{self.seek}'",
                hint="exact (the frames asked for) or keyframe (nearest keyframes, fastest)",
            )
        if self.fps is not None:
            choices.FPS.check("fps", self.fps, "0.5-2 frames per second suit most clips")
        if self.end_s is not None and self.end_s <= self.start_s:
            raise UsageError(
                f"{field('end_s')} ({self.end_s:g} s) must come after {field('start_s')}"
                f" ({self.start_s:g} s)",
                hint=f"give a range such as {field('start_s', '1:00')} {field('end_s', '2:30')}",
            )
        choices.FRAMES.check(
            "frames", self.frames, "8-16 frames spread over the clip usually work best"
        )
        if self.resize is not None:
            choices.RESIZE.check("resize", self.resize, "leave it out to use the model's own size")


@dataclass(frozen=True)
class GenerationConfig:
    """How to generate: token budget, temperature (0 = greedy) and an optional seed.

    `ignore_eos` makes every run generate `max_tokens` tokens (benchmarks need the same
    work each time).
    """

    max_tokens: int = DEFAULT_MAX_TOKENS
    temperature: float = 0.0
    seed: int | None = None
    ignore_eos: bool = False

    def __post_init__(self) -> None:
        choices.MAX_TOKENS.check(
            "max_tokens", self.max_tokens, "a few hundred tokens are enough for a paragraph"
        )
        choices.TEMPERATURE.check(
            "temperature", self.temperature, "0 is greedy and reproducible; 0.2-0.8 adds variety"
        )


def frames_for_fps(fps: float, seconds: float) -> tuple[int, bool]:
    """Frames that `fps` asks for over `seconds`, capped at the most frames a run takes; and
    whether it was capped."""
    most = int(choices.FRAMES.high)
    wanted = max(1, round(fps * seconds))
    return min(wanted, most), wanted > most


@dataclass(frozen=True)
class HearingConfig:
    """What to do with the video's audio track.

    `speech`: None (the default) transcribes when the video has an audio track and the
    session's speech model is here (a note says when it is off for lack of one); True
    transcribes, downloading the model if needed; False leaves the audio alone. `track`:
    the audio track, numbered from 0 (None: the container's default one).
    """

    speech: bool | None = None
    track: int | None = None

    def __post_init__(self) -> None:
        if self.track is not None and self.track < 0:
            raise UsageError(
                f"{field('audio_track')} must be 0 or more, not {self.track}",
                hint="audio tracks are numbered from 0",
            )
