"""The work a SmolVLM2 run does, from its config: vision FLOPs per frame and the bytes of
weights one decoded token reads. The bench sets measured stage times against these."""

from __future__ import annotations

from typing import Any

from .memory import BYTES_PER_PARAM


def vision_flops(config: dict[str, Any], frames: int) -> float:
    """Floating-point operations of the vision tower and connector over `frames` frames
    (one tile each): patch embedding, every encoder layer's projections, MLP and attention,
    and the connector's projection."""
    text, vision = config.get("text_config", {}), config.get("vision_config", {})
    hidden = int(vision.get("hidden_size", 768))
    layers = int(vision.get("num_hidden_layers", 12))
    ffn = int(vision.get("intermediate_size", 4 * hidden))
    patch = int(vision.get("patch_size", 16))
    patches = (int(vision.get("image_size", 512)) // patch) ** 2
    scale = int(config.get("scale_factor", 4))
    text_hidden = int(text.get("hidden_size", 576))
    embed = 2 * patches * 3 * patch * patch * hidden
    per_layer = 2 * patches * (4 * hidden * hidden + 2 * hidden * ffn) + 4 * patches**2 * hidden
    connector = 2 * (patches // scale**2) * hidden * scale**2 * text_hidden
    return float(frames * (embed + layers * per_layer + connector))


def decode_bytes(config: dict[str, Any], dtype: str) -> float:
    """Bytes of weights one decoded token reads: every text layer and the LM head."""
    text = config.get("text_config", {})
    h = int(text.get("hidden_size", 576))
    layers = int(text.get("num_hidden_layers", 30))
    heads = int(text.get("num_attention_heads", 9))
    kv = int(text.get("num_key_value_heads", heads))
    head_dim = int(text.get("head_dim") or h // heads)
    ffn = int(text.get("intermediate_size", 4 * h))
    vocab = int(text.get("vocab_size", 49280))
    per_layer = 2 * h * heads * head_dim + 2 * h * kv * head_dim + 3 * h * ffn + 2 * h
    return float(layers * per_layer + vocab * h + h) * BYTES_PER_PARAM.get(dtype, 4.0)


def prefill_flops(config: dict[str, Any], tokens: int) -> float:
    """Floating-point operations of prefilling `tokens` prompt tokens through the text
    layers (projections, MLP, causal attention; the LM head runs for the last one only)."""
    text = config.get("text_config", {})
    h = int(text.get("hidden_size", 576))
    layers = int(text.get("num_hidden_layers", 30))
    heads = int(text.get("num_attention_heads", 9))
    kv = int(text.get("num_key_value_heads", heads))
    head_dim = int(text.get("head_dim") or h // heads)
    ffn = int(text.get("intermediate_size", 4 * h))
    vocab = int(text.get("vocab_size", 49280))
    weights = 2 * h * heads * head_dim + 2 * h * kv * head_dim + 3 * h * ffn
    attention = 2 * tokens * tokens * heads * head_dim  # QK^T and AV, causal half of each
    return float(layers * (2 * tokens * weights + attention) + 2 * vocab * h)
