"""Video probing and frame sampling with OpenCV."""

from __future__ import annotations

import bisect
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import avdecode
from .avdecode import StreamIndex
from .errors import UsageError, VideoError

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")
os.environ.setdefault("OPENCV_LOG_LEVEL", "ERROR")

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
MAX_PLAUSIBLE_FPS = 480
FALLBACK_FPS = 30.0
IMAGE_MAGIC = {
    b"\x89PNG": "PNG",
    b"\xff\xd8\xff": "JPEG",
    b"GIF8": "GIF",
    b"BM": "BMP",
}


@dataclass(frozen=True)
class VideoInfo:
    """What the container and decoder say about a video.

    `index` (every frame's presentation time, from PyAV) is present for variable-frame-rate
    videos, where it replaces the nominal fps for planning and timestamps.
    """

    path: Path
    frame_count: int
    fps: float
    width: int
    height: int
    codec: str
    file_size_bytes: int
    modified: float
    index: StreamIndex | None = None

    @property
    def variable_frame_rate(self) -> bool:
        """True when frame times come from the stream index rather than the fps."""
        return self.index is not None

    @property
    def duration_s(self) -> float:
        """Length in seconds."""
        if self.index is not None and len(self.index.times) > 1:
            times = self.index.times
            return times[-1] + (times[-1] - times[0]) / (len(times) - 1)
        return self.frame_count / self.fps if self.fps > 0 else 0.0


@dataclass(frozen=True)
class Frame:
    """One decoded frame: its index in the stream, presentation time, and RGB pixels."""

    index: int
    timestamp_s: float
    image: npt.NDArray[np.uint8] = field(repr=False)


def _cv2() -> Any:
    import cv2

    return cv2


def check_file(path: Path) -> None:
    """Reject what cannot be a video before any decoder sees it."""
    if not path.exists():
        raise VideoError(f"video not found: {path}", hint="check the path and its spelling")
    if path.is_dir():
        raise VideoError(
            f"{path} is a folder, not a video file", hint="pass a video file such as clip.mp4"
        )
    try:
        size = path.stat().st_size
        with path.open("rb") as handle:
            head = handle.read(16)
    except OSError as exc:
        raise VideoError(
            f"cannot read {path}: {exc.strerror}", hint="check its permissions"
        ) from exc
    if size == 0:
        raise VideoError(f"{path} is empty (0 bytes)", hint="the file was not fully written")
    kind = next((name for magic, name in IMAGE_MAGIC.items() if head.startswith(magic)), None)
    if kind is None and head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        kind = "WebP"
    if kind is not None:
        raise VideoError(
            f"{path} is a still {kind} image, not a video",
            hint="pass a video file (mp4, mov, mkv, webm, avi)",
        )


def _open(path: Path) -> Any:
    cv2 = _cv2()
    cap = cv2.VideoCapture(str(path), cv2.CAP_FFMPEG)
    if not cap.isOpened():
        if avdecode.has_only_audio(path):
            raise VideoError(
                f"{path} has no video stream (it holds only audio)",
                hint="pass a file with video frames",
            )
        raise VideoError(
            f"{path} is not a video OpenCV can read (damaged, truncated, or not a video)",
            hint="check that it plays in a video player; re-encode it with ffmpeg if needed",
        )
    return cap


def probe(path: str | Path) -> VideoInfo:
    """Open a video and read its frame count, fps, size and codec."""
    path = Path(path).expanduser()
    check_file(path)
    cv2 = _cv2()
    cap = _open(path)
    try:
        count = cap.get(cv2.CAP_PROP_FRAME_COUNT)
        fps = cap.get(cv2.CAP_PROP_FPS)
        width = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH))
        height = int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
        fourcc = int(cap.get(cv2.CAP_PROP_FOURCC))
        frame_count = int(count) if 0 < count < 1e9 else 0
        if not 0 < fps <= MAX_PLAUSIBLE_FPS:
            fps = avdecode.stream_rate(path) or 0.0
        if frame_count == 0:
            frame_count = _count_frames(cap)
            cap.release()
            cap = _open(path)
        ok = cap.grab()
    finally:
        cap.release()
    if frame_count == 0 or not ok:
        raise VideoError(
            f"{path} has no decodable video frames",
            hint="it may be audio-only or damaged; check it in a video player",
        )
    stat = path.stat()
    codec = fourcc.to_bytes(4, "little").decode("ascii", "replace").strip("\x00 ") or "unknown"
    index = None
    if avdecode.is_variable_frame_rate(path):
        index = avdecode.build_index(path)
        frame_count = len(index.times) or frame_count
    return VideoInfo(
        path=path.resolve(),
        index=index,
        frame_count=frame_count,
        fps=float(fps) if fps > 0 else FALLBACK_FPS,
        width=width,
        height=height,
        codec=codec.lower(),
        file_size_bytes=stat.st_size,
        modified=stat.st_mtime,
    )


def _count_frames(cap: Any) -> int:
    count = 0
    while cap.grab():
        count += 1
    return count


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
            f"--start {start_s:g} s is past the end of the video ({info.duration_s:.1f} s)",
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
        keys = [k for k in index.keyframes if first <= k < stop] or [index.nearest_keyframe(
            index.times[first])]  # fmt: skip
        snapped = {min(keys, key=lambda k: abs(index.times[k] - t)) for t in times}
        return sorted(snapped)
    if info.index is None:
        return plan_range(first, stop, n)
    if stop - first <= n:
        return list(range(first, stop))
    times = _spread_times(info.index.times[first], _end_time(info, info.index, stop), n)
    return sorted({min(stop - 1, max(first, info.index.nearest_frame(t))) for t in times})


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


def _shrink(image: Any, longest_edge: int | None) -> Any:
    height, width = image.shape[:2]
    new_w, new_h = target_size(width, height, longest_edge)
    if (new_w, new_h) == (width, height):
        return image
    return _cv2().resize(image, (new_w, new_h), interpolation=_cv2().INTER_AREA)


def _convert(bgr: Any, longest_edge: int | None) -> Any:
    return _cv2().cvtColor(_shrink(bgr, longest_edge), _cv2().COLOR_BGR2RGB)


def decoder_for(info: VideoInfo, seek: str = "exact") -> str:
    """Which library decodes a request: "pyav" for variable frame rate or keyframe mode."""
    return "pyav" if info.index is not None or seek == "keyframe" else "opencv"


def sample(
    info: VideoInfo, indices: list[int], longest_edge: int | None = None, seek: str = "exact"
) -> list[Frame]:
    """Decode the frames at `indices` as RGB arrays (see `iter_frames`)."""
    return list(iter_frames(info, indices, longest_edge, seek))


def iter_frames(
    info: VideoInfo,
    indices: Sequence[int],
    longest_edge: int | None = None,
    seek: str = "exact",
    max_gap: int | None = None,
) -> Iterator[Frame]:
    """Decode the frames at `indices`, in order, one at a time.

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
    if not wanted:
        return
    if seek == "keyframe" and info.index is None:
        for t, rgb in avdecode.nearest_keyframes(info.path, [i / info.fps for i in wanted]):
            index = min(info.frame_count - 1, round(t * info.fps))
            yield Frame(index, t, _shrink(rgb, longest_edge))
        return
    if decoder_for(info, seek) == "pyav":
        stream_index = info.index or avdecode.build_index(info.path)
        by_time = {stream_index.times[i]: i for i in wanted}
        for t, rgb in avdecode.decode_times(info.path, list(by_time), seek == "keyframe"):
            yield Frame(
                by_time.get(t, stream_index.nearest_frame(t)), t, _shrink(rgb, longest_edge)
            )
        return
    keyframes = _keyframes_if_useful(info, wanted) if max_gap is None else None
    gap = SEQUENTIAL_MAX_GAP if max_gap is None else max_gap
    cv2 = _cv2()
    cap = _open(info.path)
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
                yield Frame(target, timestamp, _convert(bgr, longest_edge))
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
        keys = list(avdecode.build_index(info.path).keyframes)
    except VideoError:
        return None
    return keys if keys and keys[0] == 0 else None


def iter_windows(
    info: VideoInfo,
    windows: Sequence[Sequence[int]],
    longest_edge: int | None = None,
    seek: str = "exact",
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
    for frame in iter_frames(info, union, longest_edge, seek):
        held[frame.index] = frame
        while open_windows and max(windows[open_windows[0]]) <= frame.index:
            done = open_windows.pop(0)
            yield done, [held[i] for i in windows[done] if i in held]
            oldest = min((min(windows[w]) for w in open_windows), default=frame.index + 1)
            for stale in [i for i in held if i < oldest]:
                del held[stale]
    for done in open_windows:  # the video ended early (damage): give what was decoded
        yield done, [held[i] for i in windows[done] if i in held]
