"""How a highlights run cuts windows and scores them, validated; and the windows it plans."""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from typing import Any

from ..errors import UsageError
from ..errors import field as setting
from ..media.plan import frame_range, plan, plan_times
from ..media.probe import VideoInfo
from ..options import choices
from ..options.choices import Seek
from ..options.profiles import Profile

ANSWER = {"answer": True}
MAX_WINDOWS = 20_000
"""The most windows one highlights run plans: 10 hours of video in 2-second windows."""
"""Field metadata of the settings that change a window's answer (they key the resume)."""


@dataclass(frozen=True)
class HighlightsConfig:
    """How windows are cut and scored, and which of them become highlights.

    `max_tokens=None` picks enough tokens for a complete JSON answer. `constrained=False`
    asks for JSON in free text even where the backend could constrain it. With
    `frame_grid`, frames lie on one time grid (`window_s / frames_per_window` apart) so that
    overlapping windows share the frames of their overlap; without, each window spreads its
    own. The fields marked
    `ANSWER` change what a window's answer would be; the ranking settings do not.
    """

    window_s: float = field(default=choices.DEFAULT_WINDOW_S, metadata=ANSWER)
    overlap_s: float = field(default=choices.DEFAULT_OVERLAP_S, metadata=ANSWER)
    frames_per_window: int = field(default=choices.DEFAULT_FRAMES_PER_WINDOW, metadata=ANSWER)
    start_s: float = field(default=0.0, metadata=ANSWER)
    end_s: float | None = field(default=None, metadata=ANSWER)
    resize: int | None = field(default=None, metadata=ANSWER)
    seek: Seek = field(default="exact", metadata=ANSWER)
    max_tokens: int | None = field(default=None, metadata=ANSWER)
    temperature: float = field(default=0.0, metadata=ANSWER)
    seed: int | None = field(default=None, metadata=ANSWER)
    constrained: bool = field(default=True, metadata=ANSWER)
    frame_grid: bool = field(default=True, metadata=ANSWER)
    min_significance: int = choices.DEFAULT_MIN_SIGNIFICANCE
    max_highlights: int = choices.DEFAULT_MAX_HIGHLIGHTS
    audio_weight: float = 0.0

    @classmethod
    def for_profile(
        cls,
        profile: Profile,
        window_s: float | None = None,
        overlap_s: float | None = None,
        frames_per_window: int | None = None,
        **settings: Any,
    ) -> HighlightsConfig:
        """A config whose window settings left as None are the profile's."""
        return cls(
            window_s=profile.window if window_s is None else window_s,
            overlap_s=profile.overlap if overlap_s is None else overlap_s,
            frames_per_window=(
                profile.frames_per_window if frames_per_window is None else frames_per_window
            ),
            **{"audio_weight": profile.audio_weight, **settings},
        )

    def answer_settings(self) -> dict[str, Any]:
        """The settings that change a window's answer, by name, in declaration order."""
        return {f.name: getattr(self, f.name) for f in fields(self) if f.metadata.get("answer")}

    def __post_init__(self) -> None:
        choices.WINDOW_S.check("window_s", self.window_s, "try 30")
        if not 0 <= self.overlap_s < self.window_s:
            raise UsageError(
                f"{setting('overlap_s')} must be at least 0 and less than"
                f" {setting('window_s')} ({self.window_s:g} s); got {self.overlap_s:g}",
                hint="windows of 30 s with 5 s overlap suit most videos",
            )
        choices.FRAMES_PER_WINDOW.check(
            "frames_per_window", self.frames_per_window, "4-8 frames per window are usually enough"
        )
        choices.SIGNIFICANCE.check(
            "min_significance", self.min_significance, "6 keeps clearly notable moments"
        )
        choices.MAX_HIGHLIGHTS.check("max_highlights", self.max_highlights, "try 10")
        choices.AUDIO_WEIGHT.check("audio_weight", self.audio_weight, "0.3 suits sports")
        if self.max_tokens is not None:
            choices.HIGHLIGHT_MAX_TOKENS.check(
                "max_tokens", self.max_tokens, "leave it out to fit a complete answer"
            )
        if self.end_s is not None and self.end_s <= self.start_s:
            raise UsageError(
                f"{setting('end_s')} ({self.end_s:g} s) must come after {setting('start_s')}"
                f" ({self.start_s:g} s)",
                hint=f"give a range such as {setting('start_s', '1:00')}"
                f" {setting('end_s', '30:00')}",
            )
        if self.seek not in choices.SEEKS:
            raise UsageError(
                f"unknown {setting('seek')} mode '{self.seek}'", hint="exact or keyframe"
            )


@dataclass(frozen=True)
class Tuning:
    """Switches that only exist to measure what the shared work saves (the benchmark)."""

    shared_decoding: bool = True
    reuse_prefix: bool = True


@dataclass(frozen=True)
class WindowSpan:
    """A window of the video: its time range and the frames planned for it."""

    number: int
    start_s: float
    end_s: float
    indices: list[int]


def plan_windows(info: VideoInfo, config: HighlightsConfig) -> list[WindowSpan]:
    """Windows of `window_s` every `window_s - overlap_s` seconds over the range; the last one
    ends with the range. Each gets `frames_per_window` frames: on the shared time grid (a
    shorter last window gets the grid's frames inside it, or its middle frame when none
    falls inside), or spread over the window."""
    range_end = info.duration_s if config.end_s is None else min(config.end_s, info.duration_s)
    first_frame, _ = frame_range(info, config.start_s, config.end_s)
    step = config.window_s - config.overlap_s
    check_window_count(range_end - config.start_s, config)
    pitch = min(config.window_s, range_end - config.start_s) / config.frames_per_window
    spans: list[WindowSpan] = []
    start = config.start_s
    while True:
        end = min(start + config.window_s, range_end)
        first, stop = frame_range(info, start, end)
        first = max(first, first_frame)
        if config.frame_grid:
            # A last window shorter than the grid's pitch may hold none of its times: it
            # gets its middle frame rather than none.
            times = _grid_times(config.start_s, pitch, start, end) or [(start + end) / 2]
            indices = plan_times(info, first, stop, times, config.seek)
        else:
            indices = plan(info, first, stop, config.frames_per_window, config.seek)
        spans.append(WindowSpan(len(spans), start, end, indices))
        if end >= range_end - 1e-6:
            return spans
        start += step


def check_window_count(seconds: float, config: HighlightsConfig) -> None:
    """Refuse, before any work, a plan of more than MAX_WINDOWS windows: each is a model
    answer (a second or more even on a fast machine) and a thumbnail file."""
    step = config.window_s - config.overlap_s
    count = 1 + max(0, math.ceil((seconds - config.window_s) / step - 1e-9))
    if count <= MAX_WINDOWS:
        return
    hours = count / 3600
    raise UsageError(
        f"{setting('window_s', f'{config.window_s:g}')} and"
        f" {setting('overlap_s', f'{config.overlap_s:g}')} make {count:,} windows over"
        f" {seconds / 3600:.1f} hours of video (at most {MAX_WINDOWS:,}): at one second per"
        f" answer that is {hours:.0f} hours of work and {count:,} thumbnails",
        hint=f"use a longer {setting('window_s')} (30 s suits most videos) or a shorter"
        f" range with {setting('start_s')}/{setting('end_s')}",
    )


def _grid_times(origin: float, pitch: float, start: float, end: float) -> list[float]:
    """The grid's times `origin + (k + 1/2) * pitch` in [start, end)."""
    k = max(0, math.ceil((start - origin) / pitch - 0.5 - 1e-9))
    times = []
    while (t := origin + (k + 0.5) * pitch) < end - 1e-9:
        if t >= start - 1e-9:
            times.append(t)
        k += 1
    return times
