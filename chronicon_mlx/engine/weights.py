"""SmolVLM2's weights laid out for the engine, in tensors of its own: each attention's q, k
and v side by side (one product), each MLP's gate and up side by side, optionally in 8 bits."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..model.shapes import ModelShape, TextShape, VisionShape
from .checkpoint import CONNECTOR, TEXT, VISION, Checkpoint, CheckpointError, Section
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
    """The text model: embeddings (a table looked up by rows), layers, final norm and LM
    head (the same object as the embeddings when the checkpoint ties them)."""

    embed: Linear
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
    reader: Section, names: list[tuple[str, int]], width: int, kernels: Kernels, int8: bool
) -> Linear:
    import torch

    parts = [reader.read(name, (rows, width)) for name, rows in names]
    weight = parts[0] if len(parts) == 1 else torch.cat(parts, dim=0)
    # int8 quantizes and oneDNN reorders into copies of their own; a plain float32 weight is
    # copied here, so that no product reads a mapped file.
    if len(parts) == 1 and not int8 and kernels.linear != "onednn":
        weight = weight.clone()
    return Linear(weight, None, kernels, int8=int8, pack=True)


def text_weights(
    checkpoint: Checkpoint, text: TextShape, kernels: Kernels, int8: bool
) -> TextWeights:
    """The text model's weights (8-bit products and embeddings with `int8`; norms stay),
    a layer at a time: with 8 bits, the float32 pages of one layer leave before the next."""
    layers = [_text_layer(checkpoint, n, text, kernels, int8) for n in range(text.layers)]
    table_name = TEXT + "embed_tokens.weight"
    with checkpoint.opened() as reader:
        # float32: a view, a token's row read from the file when a prompt first uses it.
        table = reader.read(table_name, (text.vocab, text.hidden))
        embed = Linear(table, None, kernels, int8=int8)
        norm = reader.read(TEXT + "norm.weight", (text.hidden,))
        tied = "lm_head.weight" not in reader
    head = embed
    if not tied or (kernels.linear == "onednn" and not int8):
        # A tied head reordered for oneDNN is read in a mapping of its own, whose pages leave
        # with it: the table's stay unread but for the rows prompts look up.
        name = table_name if tied else "lm_head.weight"
        with checkpoint.opened() as reader:
            head = _linear(reader, [(name, text.vocab)], text.hidden, kernels, int8)
    return TextWeights(embed, layers, norm, head)


def _text_layer(
    checkpoint: Checkpoint, n: int, text: TextShape, kernels: Kernels, int8: bool
) -> TextLayer:
    h, q, kv, ffn = text.hidden, text.q_size, text.kv_size, text.ffn
    with checkpoint.opened() as reader:
        at = f"{TEXT}layers.{n}."
        attn, mlp = at + "self_attn.", at + "mlp."
        qkv = [
            (attn + "q_proj.weight", q),
            (attn + "k_proj.weight", kv),
            (attn + "v_proj.weight", kv),
        ]
        gate_up = [(mlp + "gate_proj.weight", ffn), (mlp + "up_proj.weight", ffn)]
        return TextLayer(
            norm_in=reader.read(at + "input_layernorm.weight", (h,)).clone(),
            qkv=_linear(reader, qkv, h, kernels, int8),
            o=_linear(reader, [(attn + "o_proj.weight", h)], q, kernels, int8),
            norm_post=reader.read(at + "post_attention_layernorm.weight", (h,)).clone(),
            gate_up=_linear(reader, gate_up, h, kernels, int8),
            down=_linear(reader, [(mlp + "down_proj.weight", h)], ffn, kernels, int8),
        )


def _norm(reader: Section, name: str, width: int) -> tuple[Any, Any]:
    weight = reader.read(name + ".weight", (width,)).clone()
    return weight, reader.read(name + ".bias", (width,)).clone()


def _affine(
    reader: Section, name: str, size: tuple[int, int], kernels: Kernels, bfloat16: bool, gelu: bool
) -> Linear:
    weight = reader.read(name + ".weight", size)
    weight = weight if bfloat16 else weight.clone()
    bias = reader.read(name + ".bias", (size[0],)).clone()
    return _tower_linear(weight, bias, kernels, bfloat16, gelu)


def _tower_linear(weight: Any, bias: Any, kernels: Kernels, bfloat16: bool, gelu: bool) -> Linear:
    """A tower layer's product: float32, or bfloat16 weights in the tuning's arithmetic."""
    widen = kernels.int8_vision != "bfloat16"
    return Linear(weight, bias, kernels, gelu=gelu, bfloat16=bfloat16, widen=widen)


def vision_weights(
    checkpoint: Checkpoint, shape: ModelShape, kernels: Kernels, bfloat16: bool = False
) -> VisionWeights:
    """The vision tower and the connector (float32 arithmetic; with `bfloat16`, the weights
    of the tower's layers and of the connector kept in bfloat16, their products in the
    tuning's `int8_vision` arithmetic), in tensors of their own, a layer at a time (its file
    pages leave before the next layer's)."""
    v: VisionShape = shape.vision
    embeddings = VISION + "embeddings."
    with checkpoint.opened() as reader:
        conv = reader.read(embeddings + "patch_embedding.weight", (v.hidden, 3, v.patch, v.patch))
        bias = reader.read(embeddings + "patch_embedding.bias", (v.hidden,)).clone()
        patch = Linear(conv.reshape(v.hidden, -1).clone(), bias, kernels)
        shape_ = (v.patches, v.hidden)
        positions = reader.read(embeddings + "position_embedding.weight", shape_).clone()
        post = _norm(reader, VISION + "post_layernorm", v.hidden)
        width = v.hidden * v.scale * v.scale
        projection = reader.read(CONNECTOR, (shape.text.hidden, width))
        projection = projection if bfloat16 else projection.clone()
        connector = _tower_linear(projection, None, kernels, bfloat16, gelu=False)
    layers = [_vision_layer(checkpoint, n, v, kernels, bfloat16) for n in range(v.layers)]
    return VisionWeights(patch, positions, layers, post, connector)


def _vision_layer(
    checkpoint: Checkpoint, n: int, v: VisionShape, kernels: Kernels, bfloat16: bool
) -> VisionLayer:
    import torch

    at = f"{VISION}encoder.layers.{n}."
    attn = at + "self_attn."
    names = [attn + "q_proj", attn + "k_proj", attn + "v_proj"]
    with checkpoint.opened() as reader:
        qkv_weight = torch.cat(
            [reader.read(name + ".weight", (v.hidden, v.hidden)) for name in names]
        )
        qkv_bias = torch.cat([reader.read(name + ".bias", (v.hidden,)) for name in names])
        square, up, down = (v.hidden, v.hidden), (v.ffn, v.hidden), (v.hidden, v.ffn)
        return VisionLayer(
            norm1=_norm(reader, at + "layer_norm1", v.hidden),
            qkv=_tower_linear(qkv_weight, qkv_bias, kernels, bfloat16, gelu=False),
            out=_affine(reader, attn + "out_proj", square, kernels, bfloat16, gelu=False),
            norm2=_norm(reader, at + "layer_norm2", v.hidden),
            fc1=_affine(reader, at + "mlp.fc1", up, kernels, bfloat16, gelu=True),
            fc2=_affine(reader, at + "mlp.fc2", down, kernels, bfloat16, gelu=False),
        )


__all__ = [
    "CheckpointError",
    "TextWeights",
    "VisionWeights",
    "supported",
    "text_weights",
    "vision_weights",
]
