"""Which frames to decode: indices spread over a range (in time for variable frame rate),
keyframe snapping, and the size frames are shrunk to."""

from __future__ import annotations

import bisect

from ..errors import UsageError, field
from .probe import VideoInfo
from .pyav import StreamIndex


def plan_indices(frame_count: int, n: int) -> list[int]:
    """Pick `n` distinct frame indices spread evenly over `frame_count` frames.

    Each index is the middle of one of `n` equal spans, so the first and last moments are
    covered without taking the (often black) very first frame. Fewer frames than asked
    gives every frame.
    """
    if frame_count <= 0 or n <= 0:
        return []
    if frame_count <= n:
        return list(range(frame_count))
    return [int((i + 0.5) * frame_count / n) for i in range(n)]


def frame_range(info: VideoInfo, start_s: float, end_s: float | None) -> tuple[int, int]:
    """The [first, stop) frame indices covering a time range of the video."""
    if start_s >= info.duration_s:
        raise UsageError(
            f"{field('start_s', f'{start_s:g}')} s is past the end of the video"
            f" ({info.duration_s:.1f} s)",
            hint="give a start time inside the video",
        )
    if info.index is not None:
        first = info.index.nearest_frame(start_s)
        end = info.duration_s if end_s is None else end_s
        return first, max(first + 1, bisect.bisect_left(info.index.times, end - 1e-6))
    first = min(info.frame_count - 1, round(start_s * info.fps))
    stop = info.frame_count
    if end_s is not None:
        stop = max(first + 1, min(info.frame_count, round(end_s * info.fps)))
    return first, stop


def range_seconds(info: VideoInfo, first: int, stop: int) -> float:
    """How long the frames [first, stop) last on screen."""
    if info.index is None:
        return (stop - first) / info.fps
    return _end_time(info, info.index, stop) - info.index.times[first]


def plan_range(first: int, stop: int, n: int) -> list[int]:
    """`plan_indices` over the frames [first, stop)."""
    return [first + i for i in plan_indices(stop - first, n)]


def plan(info: VideoInfo, first: int, stop: int, n: int, seek: str = "exact") -> list[int]:
    """The frames to decode: spread evenly over [first, stop).

    With a stream index (variable frame rate) they are spread evenly in *time*; in keyframe
    mode with an index each wanted time snaps to the nearest keyframe (duplicates dropped).
    Without an index, keyframe mode snaps while decoding (see `iter_frames`).
    """
    if seek == "keyframe" and info.index is not None:
        index = info.index
        times = _spread_times(index.times[first], _end_time(info, index, stop), n)
        keys = [k for k in index.keyframes if first <= k < stop] or [
            index.nearest_keyframe(index.times[first])
        ]
        snapped = {min(keys, key=lambda k: abs(index.times[k] - t)) for t in times}
        return sorted(snapped)
    if info.index is None:
        return plan_range(first, stop, n)
    if stop - first <= n:
        return list(range(first, stop))
    times = _spread_times(info.index.times[first], _end_time(info, info.index, stop), n)
    return _distinct_frames(info.index, first, stop, times)


def plan_times(info: VideoInfo, first: int, stop: int, times: list[float], seek: str) -> list[int]:
    """The frames on screen at `times` (each a distinct frame, within [first, stop)): a
    frame the same time picks is the same frame in every window that asks for it. In
    keyframe mode with an index each time snaps to the nearest keyframe."""
    if not times:
        return []
    index = info.index
    if index is None:
        return sorted({min(stop - 1, max(first, int(t * info.fps))) for t in times})
    if seek == "keyframe":
        keys = [k for k in index.keyframes if first <= k < stop] or [
            index.nearest_keyframe(index.times[first])
        ]
        return sorted({min(keys, key=lambda k: abs(index.times[k] - t)) for t in times})
    return _distinct_frames(index, first, stop, times)


def _distinct_frames(index: StreamIndex, first: int, stop: int, times: list[float]) -> list[int]:
    """For each time the frame on screen then, or, when an earlier time already took it
    (a gap in a variable-frame-rate stream), the nearest free frame: as many distinct frames
    as times whenever [first, stop) holds that many."""
    taken: set[int] = set()
    for t in times:
        frame = min(stop - 1, max(first, index.nearest_frame(t)))
        if frame in taken:
            frame = _nearest_free(index, first, stop, frame, t, taken)
        taken.add(frame)
    return sorted(taken)


def _nearest_free(
    index: StreamIndex, first: int, stop: int, start: int, t: float, taken: set[int]
) -> int:
    left, right = start - 1, start + 1
    while left in taken:
        left -= 1
    while right in taken:
        right += 1
    options = [k for k in (left, right) if first <= k < stop]
    return min(options, key=lambda k: (abs(index.times[k] - t), k))


def _end_time(info: VideoInfo, index: StreamIndex, stop: int) -> float:
    return index.times[stop] if stop < len(index.times) else info.duration_s


def _spread_times(start: float, end: float, n: int) -> list[float]:
    return [start + (i + 0.5) * (end - start) / n for i in range(n)]


def target_size(width: int, height: int, longest_edge: int | None) -> tuple[int, int]:
    """The (width, height) a frame is shrunk to so its longest edge fits; never enlarged."""
    if longest_edge is None or max(width, height) <= longest_edge:
        return width, height
    scale = longest_edge / max(width, height)
    return max(1, round(width * scale)), max(1, round(height * scale))
