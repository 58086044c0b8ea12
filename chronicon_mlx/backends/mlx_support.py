"""What the MLX backend needs around mlx-vlm: device choice, a portable JSON-constraint
processor, and running to max_tokens for benchmarks."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from ..errors import BackendError, field
from ..machine import nvidia_gpu_present


def portable_processor(template: Any) -> Any:
    """mlx-vlm's llguidance processor masks logits with a Metal kernel; on the CPU and CUDA
    the same mask is applied with mx.where."""
    import mlx.core as mx
    import numpy as np
    from mlx_vlm.structured import LLGuidanceLogitsProcessor

    class PortableProcessor(LLGuidanceLogitsProcessor):  # type: ignore[misc]
        def _apply_bitmask(self, logits: Any) -> Any:
            self._fill_next_token_mask()
            bits = np.unpackbits(
                np.asarray(self.bitmask).view(np.uint8), axis=-1, bitorder="little"
            )
            allowed = np.zeros((bits.shape[0], logits.shape[-1]), dtype=bool)
            width = min(bits.shape[1], logits.shape[-1])
            allowed[:, :width] = bits[:, :width].astype(bool)
            return mx.where(mx.array(allowed), logits, -mx.inf)

    return PortableProcessor(template.grammar, template.llg_tokenizer)


@contextlib.contextmanager
def eos_disabled(tokenizer: Any, disabled: bool) -> Iterator[None]:
    """Let generation run to max_tokens (benchmarks need the same work every run)."""
    criteria = getattr(tokenizer, "stopping_criteria", None)
    if not disabled or criteria is None:
        yield
        return
    saved = list(criteria.eos_token_ids)
    criteria.eos_token_ids = []
    try:
        yield
    finally:
        criteria.eos_token_ids = saved


def select_device(mx: Any, device: str) -> str:
    """Make MLX use the requested device; return "metal", "cuda" or "cpu"."""
    if device == "cpu":
        mx.set_default_device(mx.cpu)
        return "cpu"
    gpu = mx.default_device() == mx.gpu or mx.is_available(mx.gpu)
    if device == "auto":
        if not gpu:
            return "cpu"
        mx.set_default_device(mx.gpu)
        return "metal" if mx.metal.is_available() else "cuda"
    if device == "mps" and not mx.metal.is_available():
        raise BackendError(
            f"{field('device', 'mps')} was asked for, but MLX has no Metal device here",
            hint=f"Metal needs Apple Silicon; use {field('device', 'cpu')}",
        )
    cuda = getattr(mx, "cuda", None)
    if device == "cuda" and not (cuda is not None and cuda.is_available()):
        hint = (
            f"pip install 'mlx[cuda]', or use {field('backend', 'transformers')}"
            if nvidia_gpu_present()
            else f"this machine has no NVIDIA GPU: use {field('device', 'cpu')}"
        )
        raise BackendError(
            f"{field('device', 'cuda')} was asked for, but this MLX build has no CUDA support",
            hint=hint,
        )
    mx.set_default_device(mx.gpu)
    return "metal" if device == "mps" else "cuda"


def first_dtype(model: Any) -> str:
    from mlx.utils import tree_flatten

    for _name, value in tree_flatten(model.parameters()):
        return str(value.dtype).split(".")[-1]
    return "unknown"
