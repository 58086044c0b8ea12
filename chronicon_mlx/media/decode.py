"""Decoding frames: OpenCV for constant frame rate (grab forward or seek, whichever decodes
fewer frames), PyAV for variable frame rate and keyframe reads; one pass for many
overlapping windows."""

from __future__ import annotations

import bisect
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..errors import VideoError
from . import pyav
from .plan import target_size
from .probe import VideoInfo, open_capture, opencv

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

# Measured here (scripts/bench_frames.py, 720p H.264, GOP 250): a seek costs about as much
# as decoding 120 frames forward when keyframe positions are unknown, and about 8 frames
# more than decoding from the keyframe when they are known.
SEQUENTIAL_MAX_GAP = 120
SEEK_COST_FRAMES = 8
# Gaps where keyframe positions decide (below: grabbing costs little whatever they are;
# above: longer than any common GOP, always seek). A packet index costs about as much as
# decoding 60 frames plus 0.03 frame per frame of the video; knowing the keyframes saves
# about half an undecided gap.
UNDECIDED_GAPS = (60, 600)
INDEX_COST_FRAMES = (60.0, 0.03)


@dataclass(frozen=True)
class Frame:
    """One decoded frame: its index in the stream, presentation time, and RGB pixels (shrunk
    for the model); `preview` is the same frame at `PREVIEW_WIDTH` for thumbnails, when it
    was asked for."""

    index: int
    timestamp_s: float
    image: npt.NDArray[np.uint8] = field(repr=False)
    preview: npt.NDArray[np.uint8] | None = field(default=None, repr=False)


PREVIEW_WIDTH = 320


def _shrink(image: Any, longest_edge: int | None) -> Any:
    height, width = image.shape[:2]
    new_w, new_h = target_size(width, height, longest_edge)
    if (new_w, new_h) == (width, height):
        return image
    return opencv().resize(image, (new_w, new_h), interpolation=opencv().INTER_AREA)


def _to_width(image: Any, width: int) -> Any:
    """`image` scaled to `width` pixels wide (aspect kept), never enlarged."""
    height, current = image.shape[:2]
    if current <= width:
        return image
    size = (width, max(1, round(height * width / current)))
    return opencv().resize(image, size, interpolation=opencv().INTER_AREA)


def _convert(bgr: Any, longest_edge: int | None) -> Any:
    return opencv().cvtColor(_shrink(bgr, longest_edge), opencv().COLOR_BGR2RGB)


def _frame(index: int, t: float, rgb: Any, edge: int | None, preview: bool) -> Frame:
    """A Frame from a full-size RGB image: shrunk for the model, and for a preview."""
    return Frame(index, t, _shrink(rgb, edge), _to_width(rgb, PREVIEW_WIDTH) if preview else None)


def decoder_for(info: VideoInfo, seek: str = "exact") -> str:
    """Which library decodes a request: "pyav" for variable frame rate or keyframe mode."""
    return "pyav" if info.index is not None or seek == "keyframe" else "opencv"


def sample(
    info: VideoInfo,
    indices: list[int],
    longest_edge: int | None = None,
    seek: str = "exact",
    previews: Collection[int] = (),
) -> list[Frame]:
    """Decode the frames at `indices` as RGB arrays (see `iter_frames`)."""
    return list(iter_frames(info, indices, longest_edge, seek, previews=previews))


def iter_frames(
    info: VideoInfo,
    indices: Sequence[int],
    longest_edge: int | None = None,
    seek: str = "exact",
    max_gap: int | None = None,
    previews: Collection[int] = (),
) -> Iterator[Frame]:
    """Decode the frames at `indices`, in order, one at a time (those in `previews` also
    at thumbnail size, from the full-size frame).

    OpenCV reads constant-frame-rate videos. From each frame it either decodes forward
    (grab, no conversion) to the next wanted one or seeks, whichever decodes fewer frames:
    seeking pays only when the keyframe before the target lies ahead of the current position
    (a seek always decodes from that keyframe). Keyframe positions come from a packet index
    (no decoding) when some gaps are in the range where they decide; otherwise, and with an
    explicit `max_gap`, frames at most that far ahead are grabbed and the rest sought.
    PyAV reads variable-frame-rate videos and keyframe mode. Frames that fail to decode are
    left out; the caller compares the count with what it asked for.
    """
    wanted = sorted(set(indices))
    previews = frozenset(previews)
    if not wanted:
        return
    if seek == "keyframe" and info.index is None:
        for t, rgb in pyav.nearest_keyframes(info.path, [i / info.fps for i in wanted]):
            index = min(info.frame_count - 1, round(t * info.fps))
            yield _frame(index, t, rgb, longest_edge, index in previews)
    elif decoder_for(info, seek) == "pyav":
        stream_index = info.index or pyav.build_index(info.path)
        by_time = {stream_index.times[i]: i for i in wanted}
        for t, rgb in pyav.decode_times(info.path, list(by_time), seek == "keyframe"):
            index = by_time.get(t, stream_index.nearest_frame(t))
            yield _frame(index, t, rgb, longest_edge, index in previews)
    else:
        yield from _opencv_frames(info, wanted, longest_edge, max_gap, previews)


def _opencv_frames(
    info: VideoInfo,
    wanted: list[int],
    longest_edge: int | None,
    max_gap: int | None,
    previews: frozenset[int],
) -> Iterator[Frame]:
    keyframes = _keyframes_if_useful(info, wanted) if max_gap is None else None
    gap = SEQUENTIAL_MAX_GAP if max_gap is None else max_gap
    cv2 = opencv()
    cap = open_capture(info.path)
    try:
        position = 0  # index of the frame the next grab() returns
        for target in wanted:
            if _should_seek(position, target, gap, keyframes):
                cap.set(cv2.CAP_PROP_POS_FRAMES, target)
                position = target
            while position < target and cap.grab():
                position += 1
            if position != target:
                break
            ok, bgr = cap.read()
            position += 1
            if ok and bgr is not None:
                timestamp = cap.get(cv2.CAP_PROP_POS_MSEC) / 1000.0
                preview = None
                if target in previews:
                    preview = cv2.cvtColor(_to_width(bgr, PREVIEW_WIDTH), cv2.COLOR_BGR2RGB)
                yield Frame(target, timestamp, _convert(bgr, longest_edge), preview)
    finally:
        cap.release()


def _should_seek(position: int, target: int, max_gap: int, keyframes: list[int] | None) -> bool:
    if target < position:
        return True
    if keyframes is None:
        return target - position > max_gap
    keyframe = keyframes[max(0, bisect.bisect_right(keyframes, target) - 1)]
    return keyframe - position > SEEK_COST_FRAMES


def _keyframes_if_useful(info: VideoInfo, wanted: list[int]) -> list[int] | None:
    """The stream's keyframes, read only when enough gaps between wanted frames are in the
    range where they decide between grabbing and seeking to pay for the packet index."""
    gaps = [b - a for a, b in zip([0, *wanted[:-1]], wanted, strict=True)]
    undecided = sum(g for g in gaps if UNDECIDED_GAPS[0] <= g < UNDECIDED_GAPS[1])
    fixed, per_frame = INDEX_COST_FRAMES
    if undecided / 2 < fixed + per_frame * info.frame_count:
        return None
    try:
        keys = list(pyav.build_index(info.path).keyframes)
    except VideoError:
        return None
    return keys if keys and keys[0] == 0 else None


def iter_windows(
    info: VideoInfo,
    windows: Sequence[Sequence[int]],
    longest_edge: int | None = None,
    seek: str = "exact",
    previews: Collection[int] = (),
) -> Iterator[tuple[int, list[Frame]]]:
    """Decode many (overlapping) windows of frames in one pass; yield (window number,
    frames) as soon as each window is complete.

    Every frame is decoded at most once, however many windows share it, and a frame is let
    go as soon as no window still open needs it: memory holds the frames in flight, not the
    video.
    """
    open_windows = sorted(
        (w for w in range(len(windows)) if windows[w]), key=lambda w: max(windows[w])
    )
    held: dict[int, Frame] = {}
    union = sorted({i for window in windows for i in window})
    for frame in iter_frames(info, union, longest_edge, seek, previews=previews):
        held[frame.index] = frame
        while open_windows and max(windows[open_windows[0]]) <= frame.index:
            done = open_windows.pop(0)
            yield done, [held[i] for i in windows[done] if i in held]
            oldest = min((min(windows[w]) for w in open_windows), default=frame.index + 1)
            for stale in [i for i in held if i < oldest]:
                del held[stale]
    for done in open_windows:  # the video ended early (damage): give what was decoded
        yield done, [held[i] for i in windows[done] if i in held]
