"""How close the pixels given to the model are to SmolVLM2's video processor path.

The reference is a PIL imitation of transformers' SmolVLMVideoProcessor (which needs
torchvision): the decoded source frame resized once so its longest edge is the video size,
then squared to the encoder's size (LANCZOS both times), rescaled and normalized. It is
compared with the image-processor path as this project runs it, and as it ran before (the
frame first enlarged to 4x the encoder size, then squared), for frames of a generated clip.

    .venv/bin/python scripts/pixel_check.py [--model tiny-random]
"""

from __future__ import annotations

import argparse
import json
from typing import Any

import numpy as np


def reference(frame: Any, edge: int, square: int) -> Any:
    """The video processor's path, imitated with PIL (LANCZOS, as its config says)."""
    from PIL import Image

    image = Image.fromarray(frame)
    scale = edge / max(image.size)
    size = (max(1, round(image.size[0] * scale)), max(1, round(image.size[1] * scale)))
    image = image.resize(size, Image.Resampling.LANCZOS).resize(
        (square, square), Image.Resampling.LANCZOS
    )
    return (np.asarray(image, np.float32).transpose(2, 0, 1) / 255.0 - 0.5) / 0.5


def ours(processor: Any, frame: Any, edge: int | None) -> Any:
    """The image processor's pixels for `frame` (first resize to `edge`, if given)."""
    from PIL import Image

    if edge is not None:
        processor.size = type(processor.size)(longest_edge=edge)
    values = processor([Image.fromarray(frame)], return_tensors="np")["pixel_values"]
    return np.asarray(values)[0, 0]


def main() -> None:
    """Print mean and max differences, before and after, as JSON."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", default="tiny-random")
    parser.add_argument("--frames", type=int, default=8)
    args = parser.parse_args()
    from transformers import AutoImageProcessor

    from chronicon_mlx.media.decode import sample
    from chronicon_mlx.media.plan import plan
    from chronicon_mlx.media.probe import probe
    from chronicon_mlx.media.synthetic import write_sample_video
    from chronicon_mlx.model.resolver import resolve
    from chronicon_mlx.paths import cache_root

    model = resolve(args.model)
    clip = cache_root() / "pixels" / "clip_1280x720.mp4"
    if not clip.is_file():
        write_sample_video(clip, seconds=4, fps=30, size=(1280, 720))
    info = probe(clip)
    indices = plan(info, 0, info.frame_count, args.frames)
    full = sample(info, indices)
    shrunk = sample(info, indices, model.frame_size)
    processor = AutoImageProcessor.from_pretrained(model.path, backend="pil")
    processor.do_image_splitting = False
    square = processor.max_image_size["longest_edge"]
    rows = {}
    for name, edge in (("before (4x first)", 4 * square), ("now (video size)", model.video_edge)):
        diffs = [
            np.abs(ours(processor, s.image, edge) - reference(f.image, model.video_edge, square))
            for f, s in zip(full, shrunk, strict=True)
        ]
        rows[name] = {"mean": float(np.mean(diffs)), "max": float(np.max(diffs))}
    print(json.dumps({"model": model.name, "frames": len(full), "difference": rows}, indent=2))


if __name__ == "__main__":
    main()
