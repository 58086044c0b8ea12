"""Synthetic videos for the demo, the tests and the benchmarks."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def frame_code_image(index: int, width: int, height: int) -> Any:
    """A BGR frame whose 8 vertical bands encode `index` in binary (robust to compression)."""
    import numpy as np

    image = np.zeros((height, width, 3), np.uint8)
    band = max(1, width // 8)
    for bit in range(8):
        if index >> bit & 1:
            image[:, bit * band : (bit + 1) * band] = 255
    return image


def read_frame_code(rgb: object) -> int:
    """Decode the index written by `frame_code_image` (from an RGB or BGR frame)."""
    import numpy as np

    array = np.asarray(rgb)
    width = array.shape[1]
    band = max(1, width // 8)
    value = 0
    for bit in range(8):
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
