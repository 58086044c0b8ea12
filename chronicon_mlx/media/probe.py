"""Probing a video: frame count, frame rate, size, codec, and (variable frame rate) every
frame's presentation time."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import VideoError
from ..timecodes import format_time
from . import pyav
from .pyav import StreamIndex
from .sources import check_file, decoder_name

os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")
os.environ.setdefault("OPENCV_LOG_LEVEL", "ERROR")

MAX_PLAUSIBLE_FPS = 480
FALLBACK_FPS = 30.0


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
    notes: tuple[str, ...] = ()

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


def opencv() -> Any:
    """The cv2 module, imported on first use."""
    import cv2

    return cv2


def open_capture(path: Path) -> Any:
    """An opened cv2.VideoCapture; a VideoError when OpenCV cannot read the file."""
    cv2 = opencv()
    cap = cv2.VideoCapture(decoder_name(path), cv2.CAP_FFMPEG)
    if not cap.isOpened():
        if pyav.has_only_audio(path):
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
    cv2 = opencv()
    cap = open_capture(path)
    try:
        count = cap.get(cv2.CAP_PROP_FRAME_COUNT)
        fps = cap.get(cv2.CAP_PROP_FPS)
        width = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH))
        height = int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
        fourcc = int(cap.get(cv2.CAP_PROP_FOURCC))
        frame_count = int(count) if 0 < count < 1e9 else 0
        if not 0 < fps <= MAX_PLAUSIBLE_FPS:
            fps = pyav.stream_rate(path) or 0.0
        if frame_count == 0:
            frame_count = _count_frames(cap)
            cap.release()
            cap = open_capture(path)
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
    fps = float(fps) if fps > 0 else FALLBACK_FPS
    index: StreamIndex | None = None
    notes: tuple[str, ...] = ()
    if pyav.is_variable_frame_rate(path):
        index = pyav.build_index(path)
        frame_count = len(index.times) or frame_count
    else:
        frame_count, notes = _real_frame_count(path, frame_count, fps)
    return VideoInfo(
        path=path.resolve(),
        index=index,
        frame_count=frame_count,
        fps=fps,
        width=width,
        height=height,
        codec=codec.lower(),
        file_size_bytes=stat.st_size,
        modified=stat.st_mtime,
        notes=notes,
    )


def _real_frame_count(path: Path, claimed: int, fps: float) -> tuple[int, tuple[str, ...]]:
    """The frame count the stream really holds when the container claims far more (a lying
    duration), with a note; else the claim."""
    claimed_s = claimed / fps
    end = pyav.last_frame_time(path, claimed_s)
    if end is None or end >= claimed_s - max(1.0, 0.02 * claimed_s):
        return claimed, ()
    real = min(claimed, max(1, round(end * fps) + 1))
    note = (
        f"the container says {format_time(claimed_s)} but its video stream ends at"
        f" {format_time(real / fps)}: planning on what is there"
    )
    return real, (note,)


def _count_frames(cap: Any) -> int:
    count = 0
    while cap.grab():
        count += 1
    return count
