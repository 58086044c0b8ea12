"""SmolVLM2's vision tower and connector on torch: frames in, each frame's features out."""

from __future__ import annotations

from typing import Any

# Frames per vision-tower call. On the CPU one frame at a time is about a tenth faster
# than all together: its intermediates stay small enough to be reused from the heap
# instead of being mapped (and page-faulted) afresh each layer. Accelerators batch.
CPU_VISION_FRAMES = 1


def contiguous_vision_embeddings(model: Any) -> None:
    """Make the vision tower's patch embeddings leave in row-major order.

    SmolVLM's embeddings are the convolution's output transposed; elementwise ops keep that
    layout, so every encoder layer's norms and residual adds would work on a transposed
    stream and copy it (about a tenth of the tower's time on the CPU). The values are
    bitwise the same either way.
    """
    embeddings = getattr(getattr(model.model, "vision_model", None), "embeddings", None)
    if embeddings is not None:
        embeddings.register_forward_hook(lambda _module, _inputs, out: out.contiguous())


def encode_frames(
    model: Any, pixel_values: Any, pixel_mask: Any | None, device: str, tokens_per_frame: int
) -> list[Any]:
    """Each frame's connector output, [tokens_per_frame, hidden], for the image
    processor's `pixel_values` ([batch, frames, C, H, W], one tile per frame)."""
    import torch

    values = pixel_values.flatten(0, 1)[None]
    mask = pixel_mask.flatten(0, 1)[None].to(device) if pixel_mask is not None else None
    count = values.shape[1]
    group = CPU_VISION_FRAMES if device == "cpu" else count
    frames: list[Any] = []
    for first in range(0, count, group):
        part = slice(first, first + group)
        out = model.model.get_image_features(
            values[:, part], mask[:, part] if mask is not None else None
        )
        pooled = getattr(out, "pooler_output", out)
        if isinstance(pooled, (list, tuple)):
            pooled = torch.cat(list(pooled), dim=0)
        frames.extend(pooled.reshape(-1, tokens_per_frame, pooled.shape[-1]))
    return frames
