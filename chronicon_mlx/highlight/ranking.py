"""From scored windows to ranked highlights: keep, merge, rank."""

from __future__ import annotations

import re

from .result import Highlight, WindowResult

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


def merge(
    windows: list[WindowResult], min_significance: int, audio_weight: float = 0.0
) -> list[Highlight]:
    """Windows scored at least `min_significance`, in time order, merged into highlights.

    A merged highlight spans its windows' time range, takes the highest significance and
    the highest score (see `WindowResult.score`), and the description and representative
    frame of its best window (the earliest on ties).
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
    return [_highlight(group, audio_weight) for group in groups]


def _highlight(group: list[WindowResult], audio_weight: float) -> Highlight:
    best = max(group, key=lambda w: w.score(audio_weight))  # the first of equals: earliest
    assert best.description is not None and best.significance is not None
    frame_index, frame_time = _representative(best)
    return Highlight(
        start_s=group[0].start_s,
        end_s=max(w.end_s for w in group),
        description=best.description,
        significance=max(w.significance or 0 for w in group),
        windows=[w.number for w in group],
        frame_index=frame_index,
        frame_time_s=frame_time,
        thumbnail=best.thumbnail,
        score=best.score(audio_weight),
    )


def rank(highlights: list[Highlight], max_highlights: int) -> list[Highlight]:
    """The top `max_highlights` by score (earlier first on ties), numbered from 1."""
    ordered = sorted(highlights, key=lambda h: (-h.score, h.start_s))[:max_highlights]
    for position, highlight in enumerate(ordered, start=1):
        highlight.rank = position
    return ordered
