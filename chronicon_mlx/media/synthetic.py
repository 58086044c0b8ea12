"""Synthetic videos for the demo, the tests and the benchmarks."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt


def frame_code_image(index: int, width: int, height: int, bits: int = 8) -> Any:
    """A BGR frame whose vertical bands encode `index` in binary (robust to compression)."""
    import numpy as np

    image = np.zeros((height, width, 3), np.uint8)
    band = max(1, width // bits)
    for bit in range(bits):
        if index >> bit & 1:
            image[:, bit * band : (bit + 1) * band] = 255
    return image


def read_frame_code(rgb: object, bits: int = 8) -> int:
    """Decode the index written by `frame_code_image` (from an RGB or BGR frame)."""
    import numpy as np

    array = np.asarray(rgb)
    width = array.shape[1]
    band = max(1, width // bits)
    value = 0
    for bit in range(bits):
        if array[:, bit * band : (bit + 1) * band].mean() > 127:
            value |= 1 << bit
    return value


def write_sample_video(
    path: Path,
    seconds: float = 6.0,
    fps: float = 30.0,
    size: tuple[int, int] = (640, 360),
    coded: bool = False,
) -> Path:
    """Write an MP4 with OpenCV: a red ball crossing a blue-grey scene, or coded frames.

    With `coded=True` each frame's index is written into it (see `read_frame_code`).
    """
    import cv2
    import numpy as np

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    width, height = size
    count = max(1, round(seconds * fps))
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"mp4v"), fps, (width, height))
    if not writer.isOpened():
        raise RuntimeError(f"OpenCV cannot write {path}")
    radius = max(2, min(width, height) // 10)
    try:
        for i in range(count):
            if coded:
                frame = frame_code_image(i, width, height)
            else:
                frame = np.full((height, width, 3), (90, 70, 40), np.uint8)
                frame[height * 2 // 3 :] = (40, 120, 40)
                x = radius + int((width - 2 * radius) * i / max(1, count - 1))
                cv2.circle(frame, (x, height // 2), radius, (0, 0, 230), -1)
            writer.write(frame)
    finally:
        writer.release()
    return path


def write_av_video(
    path: Path,
    *,
    size: tuple[int, int] = (320, 240),
    fps: int = 30,
    frames: int = 60,
    codec: str = "libx264",
    times: list[float] | None = None,
    rotation: int = 0,
    gop: int | None = None,
    pix_fmt: str = "yuv420p",
    faststart: bool = False,
    bits: int = 8,
    preset: str | None = None,
) -> Path:
    """Write a coded video with PyAV (FFmpeg's encoders, no ffmpeg binary needed).

    Frame i carries its index (see `read_frame_code`). `times` gives each frame's
    presentation time in seconds (a variable-frame-rate file); `rotation` stores a display
    rotation, as phones do for upright video.
    """
    from fractions import Fraction

    import av

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    count = len(times) if times is not None else frames
    options = {"movflags": "faststart"} if faststart else {}
    with av.open(str(path), "w", options=options) as container:
        stream = container.add_stream(codec, rate=fps)
        stream.width, stream.height = size
        stream.pix_fmt = pix_fmt
        if gop is not None:
            stream.codec_context.gop_size = gop
            stream.options = {"keyint_min": str(gop), "sc_threshold": "0"}
        if preset is not None:
            stream.options = {**stream.options, "preset": preset}
        if times is not None:
            stream.codec_context.time_base = Fraction(1, 1000)
        if rotation:
            stream.set_display_rotation(rotation)
        for i in range(count):
            image = frame_code_image(i, *size, bits=bits)
            frame = av.VideoFrame.from_ndarray(image[:, :, ::-1].copy(), format="rgb24")
            if times is not None:
                frame.pts = round(times[i] * 1000)
                frame.time_base = Fraction(1, 1000)
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return path


def write_audio_only(path: Path, seconds: float = 1.0) -> Path:
    """Write an AAC-only .mp4 (no video stream)."""
    import av
    import numpy as np

    path = Path(path)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("aac", rate=44100)
        samples = np.zeros((1, 1024), np.float32)
        for i in range(int(seconds * 44100 / 1024)):
            frame = av.AudioFrame.from_ndarray(samples, format="fltp", layout="mono")
            frame.sample_rate = 44100
            frame.pts = i * 1024
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return path


def write_clip_with_audio(
    path: Path,
    tracks: Sequence[npt.NDArray[np.float32]],
    rate: int = 16_000,
    fps: float = 4.0,
    size: tuple[int, int] = (64, 48),
    audio_codec: str = "aac",
) -> Path:
    """Write a short coded video with one audio stream per array of `tracks` (mono float32
    at `rate`); the video lasts as long as the longest track, frame i carrying its index."""
    import av
    import numpy as np

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    seconds = max(len(t) for t in tracks) / rate
    with av.open(str(path), "w") as container:
        video = container.add_stream("mpeg4", rate=round(fps))
        video.width, video.height = size
        video.pix_fmt = "yuv420p"
        streams = [container.add_stream(audio_codec, rate=rate, layout="mono") for _ in tracks]
        for i in range(max(1, round(seconds * fps))):
            image = frame_code_image(i, *size)
            frame = av.VideoFrame.from_ndarray(image[:, :, ::-1].copy(), format="rgb24")
            container.mux(video.encode(frame))
        container.mux(video.encode(None))
        for stream, samples in zip(streams, tracks, strict=True):
            step = 1024
            for start in range(0, len(samples), step):
                block = np.ascontiguousarray(samples[start : start + step], np.float32)
                frame = av.AudioFrame.from_ndarray(
                    block.reshape(1, -1), format="fltp", layout="mono"
                )
                frame.sample_rate = rate
                frame.pts = start
                container.mux(stream.encode(frame))
            container.mux(stream.encode(None))
    return path
