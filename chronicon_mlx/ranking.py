"""From scored windows to ranked highlights: keep, merge, rank, cut."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from .timecodes import format_time

# Windows that touch (or nearly: frame times are rounded) may be merged.
ADJACENT_S = 0.5
SAME_MOMENT_SIMILARITY = 0.3
# A merged highlight spans at most this many window lengths.
MAX_MERGED_LENGTHS = 2.5
_STOPWORD_TEXT = (
    "a an the and or of in on at to from with by for is are was were be been it its this that"
    " these those there their they he she his her him them as into over under while then than"
    " who whom which what when where one two frame frames video clip shows showing"
)
_STOPWORDS = frozenset(_STOPWORD_TEXT.split())


def _time_range(start_s: float, end_s: float) -> dict[str, Any]:
    return {
        "start_s": round(start_s, 3),
        "end_s": round(end_s, 3),
        "start": format_time(start_s),
        "end": format_time(end_s),
    }


@dataclass(frozen=True)
class WindowResult:
    """One window's answer. `significance` is None when the answer could not be scored."""

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
    seconds: float
    prompt_tokens: int
    cached_tokens: int
    generated_tokens: int
    constrained: bool

    def to_dict(self, timing: bool = True) -> dict[str, Any]:
        """The window as JSON data (with its `seconds` for the checkpoint line)."""
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
            "seconds": round(self.seconds, 4),
            "prompt_tokens": self.prompt_tokens,
            "cached_tokens": self.cached_tokens,
            "generated_tokens": self.generated_tokens,
            "constrained": self.constrained,
        }
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
            seconds=float(data.get("seconds", 0.0)),
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

    def to_dict(self) -> dict[str, Any]:
        """The highlight as JSON data."""
        return {
            "rank": self.rank,
            **_time_range(self.start_s, self.end_s),
            "description": self.description,
            "significance": self.significance,
            "windows": self.windows,
            "frame": {
                "index": self.frame_index,
                "timestamp_s": round(self.frame_time_s, 3),
                "thumbnail": self.thumbnail,
            },
        }


def words(text: str) -> set[str]:
    """The content words of a description, lower-cased."""
    return {w for w in re.findall(r"[a-z0-9']+", text.lower()) if w not in _STOPWORDS}


def similarity(a: str, b: str) -> float:
    """Jaccard similarity of two descriptions' content words (0 when either has none)."""
    left, right = words(a), words(b)
    if not left or not right:
        return 0.0
    return len(left & right) / len(left | right)


def same_moment(group: list[WindowResult], window: WindowResult) -> bool:
    """True when `window` overlaps or touches the windows of `group`, describes the same
    thing as the last of them, and the merged moment stays short (a chain of similar
    windows does not grow into one long highlight)."""
    assert window.description is not None and group[-1].description is not None
    if window.start_s > max(w.end_s for w in group) + ADJACENT_S:
        return False
    length = window.end_s - window.start_s
    if window.end_s - group[0].start_s > MAX_MERGED_LENGTHS * length + ADJACENT_S:
        return False
    return similarity(group[-1].description, window.description) >= SAME_MOMENT_SIMILARITY


def _representative(window: WindowResult) -> tuple[int, float]:
    middle = len(window.frame_indices) // 2
    if not window.frame_indices:
        return -1, window.start_s
    return window.frame_indices[middle], window.frame_times[middle]


def merge(windows: list[WindowResult], min_significance: int) -> list[Highlight]:
    """Windows scored at least `min_significance`, in time order, merged into highlights.

    A merged highlight spans its windows' time range, takes the highest significance, and
    the description and representative frame of its best window (the earliest on ties).
    """
    kept = sorted(
        (w for w in windows if w.significance is not None and w.significance >= min_significance),
        key=lambda w: (w.start_s, w.number),
    )
    groups: list[list[WindowResult]] = []
    for window in kept:
        if groups and same_moment(groups[-1], window):
            groups[-1].append(window)
        else:
            groups.append([window])
    return [_highlight(group) for group in groups]


def _highlight(group: list[WindowResult]) -> Highlight:
    best = max(group, key=lambda w: w.significance or 0)  # the first of equals: earliest
    assert best.description is not None and best.significance is not None
    frame_index, frame_time = _representative(best)
    return Highlight(
        start_s=group[0].start_s,
        end_s=max(w.end_s for w in group),
        description=best.description,
        significance=best.significance,
        windows=[w.number for w in group],
        frame_index=frame_index,
        frame_time_s=frame_time,
        thumbnail=best.thumbnail,
    )


def rank(highlights: list[Highlight], max_highlights: int) -> list[Highlight]:
    """The top `max_highlights` by significance (earlier first on ties), numbered from 1."""
    ordered = sorted(highlights, key=lambda h: (-h.significance, h.start_s))[:max_highlights]
    for position, highlight in enumerate(ordered, start=1):
        highlight.rank = position
    return ordered
