"""A SmolVLM2 checkpoint's sizes, read from its config.json once.

Every part of the tool that needs a size (tokens per frame, the memory estimate, the
work per token, the shapes of what the video cache keeps, the CPU engine's weights) reads
it from here. A key the file leaves out takes the value transformers' config classes give
it (`SmolVLMVisionConfig`, `LlamaConfig`, `SmolVLMConfig`), so that every backend reads the
same model from the same file.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


def _int(table: dict[str, Any], key: str, default: int) -> int:
    value = table.get(key)
    return default if value is None else int(value)


def _rope_theta(text: dict[str, Any]) -> float:
    rope = text.get("rope_parameters")
    if isinstance(rope, dict) and rope.get("rope_theta") is not None:
        return float(rope["rope_theta"])
    return float(text.get("rope_theta", 10000.0))


def _rope_type(text: dict[str, Any]) -> str:
    rope = text.get("rope_parameters") or text.get("rope_scaling") or {}
    if not isinstance(rope, dict):
        return "unknown"
    return str(rope.get("rope_type", rope.get("type", "default")))


@dataclass(frozen=True)
class TextShape:
    """The Llama text model's sizes and settings."""

    hidden: int
    layers: int
    heads: int
    kv_heads: int
    head_dim: int
    ffn: int
    vocab: int
    max_positions: int
    rms_eps: float
    rope_theta: float
    rope_type: str
    activation: str
    attention_bias: bool
    mlp_bias: bool
    model_type: str

    @classmethod
    def of(cls, config: dict[str, Any]) -> TextShape:
        """The sizes in `config["text_config"]`."""
        text = config.get("text_config") or {}
        hidden = _int(text, "hidden_size", 4096)
        heads = _int(text, "num_attention_heads", 32)
        vocab = text.get("vocab_size") or config.get("vocab_size") or 32000
        return cls(
            hidden=hidden,
            layers=_int(text, "num_hidden_layers", 32),
            heads=heads,
            kv_heads=_int(text, "num_key_value_heads", heads),
            head_dim=_int(text, "head_dim", hidden // heads),
            ffn=_int(text, "intermediate_size", 11008),
            vocab=int(vocab),
            max_positions=_int(text, "max_position_embeddings", 2048),
            rms_eps=float(text.get("rms_norm_eps", 1e-6)),
            rope_theta=_rope_theta(text),
            rope_type=_rope_type(text),
            activation=str(text.get("hidden_act", "silu")),
            attention_bias=bool(text.get("attention_bias", False)),
            mlp_bias=bool(text.get("mlp_bias", False)),
            model_type=str(text.get("model_type", "llama")),
        )

    @property
    def q_size(self) -> int:
        """Width of the queries of all heads."""
        return self.heads * self.head_dim

    @property
    def kv_size(self) -> int:
        """Width of the keys (and of the values) of all key/value heads."""
        return self.kv_heads * self.head_dim

    @property
    def projections(self) -> int:
        """Parameters of one layer's attention projections and MLP (norms excluded)."""
        h = self.hidden
        return 2 * h * self.q_size + 2 * h * self.kv_size + 3 * h * self.ffn


@dataclass(frozen=True)
class VisionShape:
    """The SigLIP vision tower's sizes, and the connector's pixel-shuffle factor."""

    hidden: int
    layers: int
    heads: int
    ffn: int
    image_size: int
    patch: int
    scale: int
    eps: float
    activation: str

    @classmethod
    def of(cls, config: dict[str, Any]) -> VisionShape:
        """The sizes in `config["vision_config"]` and its `scale_factor`."""
        vision = config.get("vision_config") or {}
        return cls(
            hidden=_int(vision, "hidden_size", 1152),
            layers=_int(vision, "num_hidden_layers", 12),
            heads=_int(vision, "num_attention_heads", 16),
            ffn=_int(vision, "intermediate_size", 3072),
            image_size=_int(vision, "image_size", 224),
            patch=_int(vision, "patch_size", 32),
            scale=_int(config, "scale_factor", 2),
            eps=float(vision.get("layer_norm_eps", 1e-6)),
            activation=str(vision.get("hidden_act", "gelu_pytorch_tanh")),
        )

    @property
    def side(self) -> int:
        """Patches along one side of a frame."""
        return self.image_size // self.patch

    @property
    def patches(self) -> int:
        """Patches of one frame."""
        return self.side * self.side

    @property
    def tokens_per_frame(self) -> int:
        """Image tokens one frame becomes after the connector's pixel shuffle."""
        return self.patches // (self.scale * self.scale)


@dataclass(frozen=True)
class ModelShape:
    """A SmolVLM2 checkpoint's text model, vision tower and image token."""

    text: TextShape
    vision: VisionShape
    image_token_id: int | None

    @classmethod
    def of(cls, config: dict[str, Any]) -> ModelShape:
        """The shape a config.json describes."""
        token = config.get("image_token_id")
        return cls(
            TextShape.of(config), VisionShape.of(config), None if token is None else int(token)
        )

    @property
    def tokens_per_frame(self) -> int:
        """Image tokens one video frame costs."""
        return self.vision.tokens_per_frame
