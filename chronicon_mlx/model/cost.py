"""The work a SmolVLM2 run does, from its config: vision FLOPs per frame and the bytes of
weights one decoded token reads. The bench sets measured stage times against these."""

from __future__ import annotations

from typing import Any

from .memory import BYTES_PER_PARAM
from .shapes import TextShape, VisionShape


def vision_flops(config: dict[str, Any], frames: int) -> float:
    """Floating-point operations of the vision tower and connector over `frames` frames
    (one tile each): patch embedding, every encoder layer's projections, MLP and attention,
    and the connector's projection."""
    v, text = VisionShape.of(config), TextShape.of(config)
    embed = 2 * v.patches * 3 * v.patch * v.patch * v.hidden
    per_layer = 2 * v.patches * (4 * v.hidden * v.hidden + 2 * v.hidden * v.ffn)
    per_layer += 4 * v.patches**2 * v.hidden
    connector = 2 * (v.patches // v.scale**2) * v.hidden * v.scale**2 * text.hidden
    return float(frames * (embed + v.layers * per_layer + connector))


def decode_bytes(config: dict[str, Any], dtype: str) -> float:
    """Bytes of weights one decoded token reads: every text layer and the LM head."""
    t = TextShape.of(config)
    per_layer = t.projections + 2 * t.hidden
    weights = t.layers * per_layer + t.vocab * t.hidden + t.hidden
    return float(weights) * BYTES_PER_PARAM.get(dtype, 4.0)


def prefill_flops(config: dict[str, Any], tokens: int) -> float:
    """Floating-point operations of prefilling `tokens` prompt tokens through the text
    layers (projections, MLP, causal attention; the LM head runs for the last one only)."""
    t = TextShape.of(config)
    attention = 2 * tokens * tokens * t.heads * t.head_dim  # QK^T and AV, causal half of each
    return float(t.layers * (2 * tokens * t.projections + attention) + 2 * t.vocab * t.hidden)
