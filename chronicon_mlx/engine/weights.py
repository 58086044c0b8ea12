"""SmolVLM2's weights laid out for the engine, in tensors of its own: each attention's q, k
and v side by side (one product), each MLP's gate and up side by side, optionally in 8 bits."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..model.shapes import ModelShape, TextShape, VisionShape
from .checkpoint import CONNECTOR, TEXT, VISION, Checkpoint, CheckpointError
from .linear import Linear
from .tuning import Kernels


@dataclass(frozen=True)
class TextLayer:
    """One decoder layer: its norms and its three products."""

    norm_in: Any
    qkv: Linear
    o: Linear
    norm_post: Any
    gate_up: Linear
    down: Linear


@dataclass(frozen=True)
class TextWeights:
    """The text model: embeddings, layers, final norm and LM head."""

    embed: Any
    layers: list[TextLayer]
    norm: Any
    head: Linear

    @property
    def decode_bytes(self) -> int:
        """Bytes of weights one decoded token reads."""
        per_layer = sum(
            p.nbytes
            for layer in self.layers
            for p in (layer.qkv, layer.o, layer.gate_up, layer.down)
        )
        return per_layer + self.head.nbytes


@dataclass(frozen=True)
class VisionLayer:
    """One SigLIP encoder layer."""

    norm1: tuple[Any, Any]
    qkv: Linear
    out: Linear
    norm2: tuple[Any, Any]
    fc1: Linear
    fc2: Linear


@dataclass(frozen=True)
class VisionWeights:
    """The vision tower and the connector's projection."""

    patch: Linear
    positions: Any
    layers: list[VisionLayer]
    post_norm: tuple[Any, Any]
    connector: Linear


def supported(config: dict[str, Any]) -> str | None:
    """Why the engine cannot run a checkpoint's config (None: it can): a Llama text model
    without biases, SiLU, default RoPE; a SigLIP tower with tanh GELU."""
    shape = ModelShape.of(config)
    text, vision = shape.text, shape.vision
    reasons = [
        (text.model_type != "llama", f"the text model is '{text.model_type}', not Llama"),
        (text.attention_bias or text.mlp_bias, "the text model's projections have biases"),
        (text.activation != "silu", f"the text model's activation is '{text.activation}'"),
        (text.rope_type != "default", f"the text model's RoPE is '{text.rope_type}'"),
        (
            vision.activation != "gelu_pytorch_tanh",
            f"the tower's activation is '{vision.activation}'",
        ),
        (vision.hidden % max(vision.heads, 1) != 0, "the tower's heads do not divide its width"),
        (shape.image_token_id is None, "config.json names no image token"),
    ]
    return next((reason for failed, reason in reasons if failed), None)


def _linear(
    reader: Checkpoint, names: list[tuple[str, int]], width: int, kernels: Kernels, int8: bool
) -> Linear:
    import torch

    parts = [reader.read(name, (rows, width)) for name, rows in names]
    weight = parts[0] if len(parts) == 1 else torch.cat(parts, dim=0)
    return Linear(weight, None, kernels, int8=int8)


def text_weights(reader: Checkpoint, text: TextShape, kernels: Kernels, int8: bool) -> TextWeights:
    """The text model's weights (8-bit products with `int8`; norms and embeddings stay)."""
    h, q, kv, ffn = text.hidden, text.q_size, text.kv_size, text.ffn
    layers = []
    for n in range(text.layers):
        at = f"{TEXT}layers.{n}."
        attn, mlp = at + "self_attn.", at + "mlp."
        qkv = [
            (attn + "q_proj.weight", q),
            (attn + "k_proj.weight", kv),
            (attn + "v_proj.weight", kv),
        ]
        gate_up = [(mlp + "gate_proj.weight", ffn), (mlp + "up_proj.weight", ffn)]
        layers.append(
            TextLayer(
                norm_in=reader.read(at + "input_layernorm.weight", (h,)),
                qkv=_linear(reader, qkv, h, kernels, int8),
                o=_linear(reader, [(attn + "o_proj.weight", h)], q, kernels, int8),
                norm_post=reader.read(at + "post_attention_layernorm.weight", (h,)),
                gate_up=_linear(reader, gate_up, h, kernels, int8),
                down=_linear(reader, [(mlp + "down_proj.weight", h)], ffn, kernels, int8),
            )
        )
    embed = reader.read(TEXT + "embed_tokens.weight", (text.vocab, h))
    if "lm_head.weight" in reader:
        head = _linear(reader, [("lm_head.weight", text.vocab)], h, kernels, int8)
    else:  # tied to the embeddings
        head = Linear(embed, None, kernels, int8=int8)
    return TextWeights(embed, layers, reader.read(TEXT + "norm.weight", (h,)), head)


def _norm(reader: Checkpoint, name: str, width: int) -> tuple[Any, Any]:
    return reader.read(name + ".weight", (width,)), reader.read(name + ".bias", (width,))


def _affine(
    reader: Checkpoint, name: str, rows: int, width: int, kernels: Kernels, gelu: bool = False
) -> Linear:
    weight = reader.read(name + ".weight", (rows, width))
    return Linear(weight, reader.read(name + ".bias", (rows,)), kernels, gelu=gelu)


def vision_weights(reader: Checkpoint, shape: ModelShape, kernels: Kernels) -> VisionWeights:
    """The vision tower (float32: it is compute-bound) and the connector."""
    import torch

    v: VisionShape = shape.vision
    embeddings = VISION + "embeddings."
    conv = reader.read(embeddings + "patch_embedding.weight", (v.hidden, 3, v.patch, v.patch))
    patch = Linear(
        conv.reshape(v.hidden, -1),
        reader.read(embeddings + "patch_embedding.bias", (v.hidden,)),
        kernels,
    )
    layers = []
    for n in range(v.layers):
        at = f"{VISION}encoder.layers.{n}."
        attn = at + "self_attn."
        names = [attn + "q_proj", attn + "k_proj", attn + "v_proj"]
        qkv_weight = torch.cat(
            [reader.read(name + ".weight", (v.hidden, v.hidden)) for name in names]
        )
        qkv_bias = torch.cat([reader.read(name + ".bias", (v.hidden,)) for name in names])
        layers.append(
            VisionLayer(
                norm1=_norm(reader, at + "layer_norm1", v.hidden),
                qkv=Linear(qkv_weight, qkv_bias, kernels),
                out=_affine(reader, attn + "out_proj", v.hidden, v.hidden, kernels),
                norm2=_norm(reader, at + "layer_norm2", v.hidden),
                fc1=_affine(reader, at + "mlp.fc1", v.ffn, v.hidden, kernels, gelu=True),
                fc2=_affine(reader, at + "mlp.fc2", v.hidden, v.ffn, kernels),
            )
        )
    width = v.hidden * v.scale * v.scale
    connector = Linear(reader.read(CONNECTOR, (shape.text.hidden, width)), None, kernels)
    positions = reader.read(embeddings + "position_embedding.weight", (v.patches, v.hidden))
    post = _norm(reader, VISION + "post_layernorm", v.hidden)
    return VisionWeights(patch, positions, layers, post, connector)


__all__ = [
    "CheckpointError",
    "TextWeights",
    "VisionWeights",
    "supported",
    "text_weights",
    "vision_weights",
]
