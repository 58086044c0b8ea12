"""SmolVLM2's vision tower and connector on torch: frames in, each frame's features out."""

from __future__ import annotations

import functools
import os
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


def prepare_tower(model: Any, details: dict[str, str]) -> None:
    """Ready a loaded model's vision tower: row-major embeddings, and oneDNN's kernels where
    the backend's `details` (known before the load) name them; dropped from `details` when
    the operator is not usable after all."""
    contiguous_vision_embeddings(model)
    if details.get("vision_kernels") == "onednn" and not onednn_vision(model):
        del details["vision_kernels"]


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


# CPUs whose float32 products run faster through oneDNN than through torch's MKL: on an AMD
# EPYC (Zen 4) oneDNN ran the tower's linear layers 1.15-1.2x faster, and the whole tower
# about 1.2x with each MLP's GELU fused into its first layer.
ONEDNN_VENDORS = frozenset({"AuthenticAMD"})
ONEDNN_ENV = "CHRONICON_ONEDNN"  # 1: on any CPU, 0: never


def onednn_wanted(device: str, dtype: str) -> bool:
    """Whether the vision tower should run on oneDNN: a float32 model on the CPU of a
    vendor in ONEDNN_VENDORS (CHRONICON_ONEDNN=1: any CPU; 0: never), with torch's oneDNN
    linear operator present."""
    from ..machine import cpu_vendor

    wanted = os.environ.get(ONEDNN_ENV, "").strip()
    vendor = cpu_vendor() in ONEDNN_VENDORS if wanted not in ("0", "1") else wanted == "1"
    return device == "cpu" and dtype == "float32" and vendor and _operator() is not None


def onednn_vision(model: Any) -> bool:
    """Run the vision tower's linear layers through torch's oneDNN linear operator, each
    MLP's tanh GELU fused into its first layer. The operator is checked against torch's own
    linear first; when it disagrees or fails, the tower stays as it is. Returns whether the
    tower now runs on oneDNN."""
    tower = getattr(model.model, "vision_model", None)
    op = _onednn_linear() if tower is not None else None
    if tower is None or op is None:
        return False
    import torch

    for module in tower.modules():
        if isinstance(module, torch.nn.Linear):
            module.forward = functools.partial(_linear, op, module)
        fc1, fc2 = getattr(module, "fc1", None), getattr(module, "fc2", None)
        if (
            fc1 is not None
            and fc2 is not None
            and _tanh_gelu(getattr(module, "activation_fn", None))
        ):
            module.forward = functools.partial(_fused_mlp, op, fc1, fc2)
    return True


def _linear(op: Any, linear: Any, x: Any) -> Any:
    return op(x, linear.weight, linear.bias, "none", [], "")


def _fused_mlp(op: Any, fc1: Any, fc2: Any, x: Any) -> Any:
    hidden = op(x, fc1.weight, fc1.bias, "gelu", [], "tanh")
    return op(hidden, fc2.weight, fc2.bias, "none", [], "")


def _tanh_gelu(activation: Any) -> bool:
    """Whether `activation` is transformers' tanh GELU (torch's gelu with approximate="tanh")."""
    import torch

    act = getattr(activation, "act", None)
    return (
        isinstance(act, functools.partial)
        and act.func is torch.nn.functional.gelu
        and act.keywords == {"approximate": "tanh"}
    )


def _operator() -> Any:
    """torch's oneDNN linear operator (a private one, the one torch's compiler emits), or
    None where this torch has no oneDNN or no such operator."""
    import torch

    if not torch.backends.mkldnn.is_available():
        return None
    return getattr(torch.ops.mkldnn, "_linear_pointwise", None)


def _onednn_linear() -> Any:
    """The oneDNN linear operator when present and in agreement with torch's linear and
    tanh GELU; else None."""
    import torch

    op = _operator()
    if op is None:
        return None
    generator = torch.Generator().manual_seed(0)
    x, weight = torch.randn(2, 5, 16, generator=generator), torch.randn(24, 16, generator=generator)
    bias = torch.randn(24, generator=generator)
    plain = torch.nn.functional.linear(x, weight, bias)
    try:
        with torch.inference_mode():
            same = torch.allclose(op(x, weight, bias, "none", [], ""), plain, atol=1e-5)
            gelu = torch.nn.functional.gelu(plain, approximate="tanh")
            fused = torch.allclose(op(x, weight, bias, "gelu", [], "tanh"), gelu, atol=1e-5)
    except (RuntimeError, TypeError, ValueError):
        return None
    return op if same and fused else None
