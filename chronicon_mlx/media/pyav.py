"""PyAV (FFmpeg) reads for what OpenCV cannot do exactly: variable-frame-rate streams and
keyframe-only reads.

OpenCV maps a frame index to a time with the nominal fps, which is wrong when frame
durations vary; here every frame's presentation time comes from the demuxed packets, and
frames are found by seeking to the keyframe before a time and decoding forward.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from ..errors import VideoError
from .sources import decoder_name


@dataclass(frozen=True)
class StreamIndex:
    """Presentation times of every frame (seconds from the stream start) and which are
    keyframes, read from the container without decoding."""

    times: tuple[float, ...]
    keyframes: tuple[int, ...]

    def nearest_frame(self, seconds: float) -> int:
        """The last frame shown at or before `seconds`."""
        return max(0, bisect.bisect_right(self.times, seconds + 1e-6) - 1)

    def nearest_keyframe(self, seconds: float) -> int:
        """The keyframe whose time is closest to `seconds`."""
        times = [self.times[k] for k in self.keyframes]
        pos = bisect.bisect_left(times, seconds)
        options = [self.keyframes[i] for i in (pos - 1, pos) if 0 <= i < len(times)]
        return min(options, key=lambda k: abs(self.times[k] - seconds))


def _open(path: Path) -> Any:
    import av

    try:
        return av.open(decoder_name(path))
    except (av.error.FFmpegError, OSError) as exc:
        raise VideoError(
            f"{path} cannot be read by FFmpeg: {exc}", hint="check it in a video player"
        ) from exc


def has_only_audio(path: Path) -> bool:
    """True for a readable container with audio streams and no video stream."""
    import av

    try:
        with av.open(decoder_name(path)) as container:
            return not container.streams.video and bool(container.streams.audio)
    except (av.error.FFmpegError, OSError):
        return False


def has_audio(path: Path) -> bool:
    """True when the container has an audio stream."""
    import av

    try:
        with av.open(decoder_name(path)) as container:
            return bool(container.streams.audio)
    except (av.error.FFmpegError, OSError):
        return False


def stream_rate(path: Path) -> float | None:
    """The stream's average frame rate from its header, or None when it has none."""
    with _open(path) as container:
        if not container.streams.video:
            return None
        stream = container.streams.video[0]
        for rate in (stream.average_rate, stream.guessed_rate, stream.base_rate):
            if rate and 0 < float(rate) <= 480:
                return float(rate)
    return None


def last_frame_time(path: Path, claimed_s: float) -> float | None:
    """The presentation time of the stream's real last frame, read from the packets after a
    seek to `claimed_s` (FFmpeg lands on the last keyframe before it), without decoding; None
    when it cannot be told."""
    import av

    try:
        with _open(path) as container:
            stream = container.streams.video[0]
            base = float(stream.time_base)
            start = stream.start_time or 0
            container.seek(start + int(claimed_s / base), stream=stream, backward=True)
            last = None
            for packet in container.demux(stream):
                if packet.pts is not None and packet.size:
                    last = max(last or packet.pts, packet.pts)
            return None if last is None else (last - start) * base
    except (av.error.FFmpegError, VideoError, IndexError, OverflowError):
        return None


def is_variable_frame_rate(path: Path) -> bool:
    """True when the stream's average rate differs from its base rate (FFmpeg's r_frame_rate),
    the usual mark of a variable-frame-rate file. Reads only the header."""
    with _open(path) as container:
        if not container.streams.video:
            return False
        stream = container.streams.video[0]
        average, base = stream.average_rate, stream.base_rate
        if not average or not base:
            return False
        return abs(float(average) - float(base)) / float(base) > 0.01


def build_index(path: Path) -> StreamIndex:
    """Demux every video packet (no decoding) and collect presentation times and keyframes."""
    import av

    with _open(path) as container:
        if not container.streams.video:
            raise VideoError(f"{path} has no video stream", hint="it may be audio-only")
        stream = container.streams.video[0]
        base = float(stream.time_base)
        start = stream.start_time or 0
        entries: list[tuple[int, bool]] = []
        try:
            for packet in container.demux(stream):
                if packet.pts is not None and packet.size:
                    entries.append((packet.pts, bool(packet.is_keyframe)))
        except av.error.FFmpegError:
            pass  # a damaged tail: keep what was read
    entries.sort()
    times = tuple((pts - start) * base for pts, _ in entries)
    keyframes = tuple(i for i, (_, key) in enumerate(entries) if key) or (0,)
    return StreamIndex(times, keyframes)


def _upright(frame: Any) -> npt.NDArray[np.uint8]:
    rgb: npt.NDArray[np.uint8] = frame.to_ndarray(format="rgb24")
    turns = (int(frame.rotation) // 90) % 4 if getattr(frame, "rotation", 0) else 0
    return np.ascontiguousarray(np.rot90(rgb, turns)) if turns else rgb


def decode_times(
    path: Path, times: Sequence[float], keyframe_only: bool = False
) -> Iterator[tuple[float, npt.NDArray[np.uint8]]]:
    """Yield (presentation time, upright RGB frame) for each wanted time, in order.

    Each time must be a frame's own presentation time (from the index). Nearby targets are
    reached by decoding forward; far ones by seeking to the keyframe before them. With
    `keyframe_only` each target is a keyframe and only it is decoded.
    """
    import av

    with _open(path) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        base = float(stream.time_base)
        start = stream.start_time or 0
        decoder: Iterator[Any] | None = None
        last = -1.0
        for target in sorted(times):
            if decoder is None or keyframe_only or target < last or target - last > 2.0:
                container.seek(int(target / base) + start, stream=stream, backward=True)
                decoder = container.decode(stream)
            try:
                for frame in decoder:
                    if frame.pts is None:
                        continue
                    last = (frame.pts - start) * base
                    if last >= target - 1e-4:
                        yield last, _upright(frame)
                        break
            except av.error.FFmpegError:
                decoder = None


def nearest_keyframes(
    path: Path, times: Sequence[float]
) -> Iterator[tuple[float, npt.NDArray[np.uint8]]]:
    """Yield (presentation time, upright RGB frame) of the keyframe nearest each wanted time,
    each keyframe once, in time order, without indexing the whole file.

    For each time: seek to the keyframe at or before it, read packets (no decoding) up to
    the next keyframe or until the earlier one is clearly nearer, then decode just the
    chosen keyframe.
    """
    import av

    with _open(path) as container:
        stream = container.streams.video[0]
        base = float(stream.time_base)
        start = stream.start_time or 0
        seen: set[int] = set()
        for target in sorted(times):
            try:
                chosen = _nearest_key_pts(container, stream, target, base, start)
                if chosen is None or chosen in seen:
                    continue
                seen.add(chosen)
                container.seek(chosen, stream=stream, backward=True)
                for frame in container.decode(stream):
                    if frame.pts is not None:
                        yield (frame.pts - start) * base, _upright(frame)
                        break
            except av.error.FFmpegError:
                continue


def _nearest_key_pts(container: Any, stream: Any, target: float, base: float, start: int) -> Any:
    """The pts of the keyframe nearest `target` seconds (None if no keyframe is found)."""
    container.seek(int(target / base) + start, stream=stream, backward=True)
    before: float | None = None
    before_pts = None
    for packet in container.demux(stream):
        if packet.pts is None or not packet.size:
            continue
        seconds = (packet.pts - start) * base
        if packet.is_keyframe:
            if seconds <= target + 1e-6 or before is None:
                if seconds > target + 1e-6:
                    return packet.pts  # the seek landed after the target: the first keyframe
                before, before_pts = seconds, packet.pts
                continue
            return packet.pts if seconds - target < target - before else before_pts
        if before is not None and seconds - target > target - before:
            return before_pts
    return before_pts
