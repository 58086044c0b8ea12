"""The geometry of the report's timeline: one bar per window (its significance over time),
the highlights' ranges, and time ticks; the template draws it as an inline SVG."""

from __future__ import annotations

from dataclasses import dataclass

from ..audio.hear import Hearing
from ..audio.loudness import FLOOR_LUFS
from ..highlight.result import Highlight, WindowResult
from ..timecodes import format_time

WIDTH = 1000.0
BARS = 100.0  # height of the bar area; a 10/10 window fills it
TICK_STEPS = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200)
MAX_TICKS = 10


@dataclass(frozen=True)
class Mark:
    """One window's bar: position and size in SVG units, and what hovering it shows
    (`significance` None: unscored, drawn full height and hatched)."""

    number: int
    x: float
    width: float
    height: float
    significance: int | None
    label: str
    start_s: float
    end_s: float

    @property
    def scored(self) -> bool:
        """True when the window has a score."""
        return self.significance is not None


@dataclass(frozen=True)
class Range:
    """A highlight's range on the timeline."""

    rank: int
    x: float
    width: float
    label: str
    start_s: float
    end_s: float


@dataclass(frozen=True)
class Tick:
    """A time tick: position and its H:MM:SS text."""

    x: float
    text: str


@dataclass(frozen=True)
class Timeline:
    """Everything the SVG shows, in a WIDTH x (BARS + room for ticks) box."""

    marks: list[Mark]
    ranges: list[Range]
    ticks: list[Tick]
    loudness: str = ""
    """The loudness curve as SVG polyline points over the bar area (empty: no audio)."""
    width: float = WIDTH
    bars: float = BARS


def _x(seconds: float, duration: float) -> float:
    return round(min(max(seconds / duration, 0.0), 1.0) * WIDTH, 2)


def _span(start: float, end: float) -> str:
    return f"{format_time(start)}-{format_time(end)}"


def loudness_points(heard: Hearing, duration: float) -> str:
    """Each second's loudness as a point: -70 LUFS (silence) at the bar area's foot, 0 at
    its top; at most one point per SVG unit (the loudest second of each)."""
    columns: dict[float, float] = {}
    for second, value in enumerate(heard.loudness):
        x = _x(heard.start_s + second + 0.5, duration)
        level = min(max(value, FLOOR_LUFS), 0.0)
        column = round(x)
        columns[column] = max(columns.get(column, FLOOR_LUFS), level)
    return " ".join(
        f"{x:g},{round(BARS * level / FLOOR_LUFS, 2):g}" for x, level in sorted(columns.items())
    )


def build(
    windows: list[WindowResult],
    highlights: list[Highlight],
    duration_s: float,
    heard: Hearing | None = None,
) -> Timeline:
    """The timeline of a video of `duration_s` seconds (at least as long as its windows),
    with the loudness curve of what was `heard`."""
    duration = max([duration_s, *(w.end_s for w in windows), 1e-6])
    marks = []
    for w in windows:
        x = _x(w.start_s, duration)
        width = max(_x(w.end_s, duration) - x, 0.5)
        if w.significance is None:
            label = f"{_span(w.start_s, w.end_s)}, unscored: {w.raw[:200]}"
            marks.append(Mark(w.number, x, width, BARS, None, label, w.start_s, w.end_s))
            continue
        label = f"{_span(w.start_s, w.end_s)}, {w.significance}/10: {w.description or ''}"
        height = round(BARS * max(w.significance, 0) / 10, 2)
        marks.append(Mark(w.number, x, width, height, w.significance, label, w.start_s, w.end_s))
    ranges = []
    for h in sorted(highlights, key=lambda item: item.start_s):
        x = _x(h.start_s, duration)
        label = f"#{h.rank} {_span(h.start_s, h.end_s)}, {h.significance}/10: {h.description}"
        ranges.append(
            Range(h.rank, x, max(_x(h.end_s, duration) - x, 1.0), label, h.start_s, h.end_s)
        )
    step = next((s for s in TICK_STEPS if duration / s <= MAX_TICKS), TICK_STEPS[-1])
    ticks = [
        Tick(_x(t, duration), format_time(t))
        for t in (i * step for i in range(int(duration // step) + 1))
    ]
    curve = loudness_points(heard, duration) if heard is not None and heard.loudness else ""
    return Timeline(marks, ranges, ticks, curve)
