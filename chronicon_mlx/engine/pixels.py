"""Frames to the vision tower's pixels, with the numbers SmolVLM2's processors give: the
longest edge resized to the video size (an even other edge), then stretched to the
encoder's square, both with PIL's Lanczos filter on 8-bit pixels; then rescaled to [0, 1]
and normalized with the checkpoint's mean and standard deviation."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

MAX_IMAGE_SIZE = 4096


@dataclass(frozen=True)
class PixelSettings:
    """What the checkpoint's preprocessor_config.json says about a frame's pixels."""

    video_edge: int
    square: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    rescale: float
    resample: int

    @classmethod
    def read(cls, folder: Path, square: int) -> PixelSettings:
        """The settings of a checkpoint folder whose encoder sees `square`-pixel frames."""
        path = folder / "preprocessor_config.json"
        data: dict[str, Any] = json.loads(path.read_text("utf-8")) if path.is_file() else {}
        edge = ((data.get("video_sampling") or {}).get("video_size") or {}).get("longest_edge")
        maximum = (data.get("max_image_size") or {}).get("longest_edge", square)
        return cls(
            video_edge=int(edge) if isinstance(edge, int) and edge > 0 else square,
            square=int(maximum),
            mean=_triple(data.get("image_mean", 0.5)),
            std=_triple(data.get("image_std", 0.5)),
            rescale=float(data.get("rescale_factor", 1 / 255)),
            resample=int(data.get("resample", 1)),
        )


def _triple(value: Any) -> tuple[float, float, float]:
    values = [float(value)] * 3 if isinstance(value, (int, float)) else [float(v) for v in value]
    return values[0], values[1], values[2]


def _longest_edge_size(height: int, width: int, edge: int) -> tuple[int, int]:
    """(height, width) with the longest side at `edge` and the other even, as the
    processor computes it."""
    ratio = width / height
    if width >= height:
        width, height = edge, int(edge / ratio)
        height += height % 2
    else:
        height, width = edge, int(edge * ratio)
        width += width % 2
    height, width = max(height, 1), max(width, 1)
    if max(height, width) > MAX_IMAGE_SIZE:
        if width >= height:
            width, height = MAX_IMAGE_SIZE, int(MAX_IMAGE_SIZE / ratio)
        else:
            height, width = MAX_IMAGE_SIZE, int(MAX_IMAGE_SIZE * ratio)
    return max(height, 1), max(width, 1)


def frame_pixels(frame: np.ndarray[Any, Any], settings: PixelSettings) -> np.ndarray[Any, Any]:
    """One RGB frame (uint8, H x W x 3) as the encoder's input, float32 3 x S x S."""
    from PIL import Image

    image = Image.fromarray(np.ascontiguousarray(frame[..., :3]).astype(np.uint8, copy=False))
    height, width = _longest_edge_size(image.height, image.width, settings.video_edge)
    image = image.resize((width, height), resample=settings.resample)
    image = image.resize((settings.square, settings.square), resample=settings.resample)
    array = np.asarray(image).astype(np.float64) * settings.rescale
    mean = np.asarray(settings.mean, np.float32)
    std = np.asarray(settings.std, np.float32)
    normalized = (array.astype(np.float32) - mean) / std
    return np.ascontiguousarray(normalized.transpose(2, 0, 1), dtype=np.float32)


def pixels(frames: Sequence[np.ndarray[Any, Any]], settings: PixelSettings) -> np.ndarray[Any, Any]:
    """Several frames, stacked: float32 N x 3 x S x S."""
    return np.stack([frame_pixels(frame, settings) for frame in frames])
