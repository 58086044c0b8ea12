"""One JPEG per window: its middle frame, written atomically beside the reports."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from ..files import atomic_write_bytes
from ..media.decode import PREVIEW_WIDTH, Frame
from .result import WindowResult

THUMBS_FOLDER = "thumbs"


def thumbnail_name(number: int) -> str:
    """The thumbnail of window `number`, relative to the output folder."""
    return f"{THUMBS_FOLDER}/window-{number:04d}.jpg"


def with_thumbnail(window: WindowResult, frames: list[Frame], folder: Path) -> WindowResult:
    """Save the window's middle frame as a JPEG (from the decoded source frame, 320 px wide
    when the source is at least that) and point the window to it."""
    import cv2

    frame = frames[len(frames) // 2]
    source = frame.preview if frame.preview is not None else frame.image
    image = cv2.cvtColor(source, cv2.COLOR_RGB2BGR)
    height, width = image.shape[:2]
    if width > PREVIEW_WIDTH:
        size = (PREVIEW_WIDTH, max(1, round(height * PREVIEW_WIDTH / width)))
        image = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
    ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 85])
    if not ok:
        return window
    relative = thumbnail_name(window.number)
    atomic_write_bytes(folder / relative, data.tobytes())
    return replace(window, thumbnail=relative)
