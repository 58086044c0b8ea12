"""One JPEG per window: its middle frame, written atomically beside the reports."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from ..files import atomic_write_bytes
from ..media.decode import Frame
from ..media.plan import target_size
from .result import WindowResult

THUMBNAIL_EDGE = 320
THUMBS_FOLDER = "thumbs"


def thumbnail_name(number: int) -> str:
    """The thumbnail of window `number`, relative to the output folder."""
    return f"{THUMBS_FOLDER}/window-{number:04d}.jpg"


def with_thumbnail(window: WindowResult, frames: list[Frame], folder: Path) -> WindowResult:
    """Save the window's middle frame as a JPEG (longest edge at most 320 px) and point the
    window to it."""
    import cv2

    frame = frames[len(frames) // 2]
    image = cv2.cvtColor(frame.image, cv2.COLOR_RGB2BGR)
    height, width = image.shape[:2]
    new_w, new_h = target_size(width, height, THUMBNAIL_EDGE)
    if (new_w, new_h) != (width, height):
        image = cv2.resize(image, (new_w, new_h), interpolation=cv2.INTER_AREA)
    ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 85])
    if not ok:
        return window
    relative = thumbnail_name(window.number)
    atomic_write_bytes(folder / relative, data.tobytes())
    return replace(window, thumbnail=relative)
