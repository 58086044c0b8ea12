"""Memory needed to run a SmolVLM2 checkpoint, and memory the machine has."""

from __future__ import annotations

import platform
from dataclasses import dataclass
from typing import Any

from ..machine import total_memory_bytes

BYTES_PER_PARAM = {
    "float32": 4.0,
    "float16": 2.0,
    "bfloat16": 2.0,
    "8bit": 1.0 + 4 / 64,  # int8 + an fp16 scale and bias per group of 64
    "4bit": 0.5 + 4 / 64,
}
RUNTIME_OVERHEAD = 0.4e9
PROMPT_TEXT_TOKENS = 120
FRAME_WRAPPER_TOKENS = 10


@dataclass(frozen=True)
class Estimate:
    """Bytes a run needs, by part."""

    weights: float
    vision: float
    kv_cache: float
    overhead: float = RUNTIME_OVERHEAD

    @property
    def total(self) -> float:
        """All parts together."""
        return self.weights + self.vision + self.kv_cache + self.overhead


@dataclass(frozen=True)
class TextShape:
    """The language model's sizes, read from a SmolVLM config (SmolVLM2's defaults)."""

    hidden: int
    layers: int
    heads: int
    kv_heads: int
    head_dim: int
    ffn: int
    vocab: int

    @classmethod
    def of(cls, config: dict[str, Any]) -> TextShape:
        """The sizes in `config["text_config"]`."""
        text = config.get("text_config", {})
        h = int(text.get("hidden_size", 576))
        heads = int(text.get("num_attention_heads", 9))
        return cls(
            hidden=h,
            layers=int(text.get("num_hidden_layers", 30)),
            heads=heads,
            kv_heads=int(text.get("num_key_value_heads", heads)),
            head_dim=int(text.get("head_dim") or h // heads),
            ffn=int(text.get("intermediate_size", 4 * h)),
            vocab=int(text.get("vocab_size", 49280)),
        )

    @property
    def projections(self) -> int:
        """Parameters of one layer's attention projections and MLP (norms excluded)."""
        h = self.hidden
        attention = 2 * h * self.heads * self.head_dim + 2 * h * self.kv_heads * self.head_dim
        return attention + 3 * h * self.ffn


@dataclass(frozen=True)
class VisionShape:
    """The vision tower's and connector's sizes, read from a SmolVLM config."""

    hidden: int
    layers: int
    ffn: int
    patch: int
    patches: int
    scale: int

    @classmethod
    def of(cls, config: dict[str, Any]) -> VisionShape:
        """The sizes in `config["vision_config"]` and its `scale_factor`."""
        vision = config.get("vision_config", {})
        hidden = int(vision.get("hidden_size", 768))
        patch = int(vision.get("patch_size", 16))
        return cls(
            hidden=hidden,
            layers=int(vision.get("num_hidden_layers", 12)),
            ffn=int(vision.get("intermediate_size", 4 * hidden)),
            patch=patch,
            patches=(int(vision.get("image_size", 512)) // patch) ** 2,
            scale=int(config.get("scale_factor", 4)),
        )


def parameter_counts(config: dict[str, Any]) -> tuple[int, int]:
    """(language-model parameters, vision + connector parameters) from a SmolVLM config."""
    text, v = TextShape.of(config), VisionShape.of(config)
    lm = text.layers * (text.projections + 2 * text.hidden) + 2 * text.vocab * text.hidden
    vis = v.layers * (4 * v.hidden * v.hidden + 2 * v.hidden * v.ffn)
    vis += (3 * v.patch * v.patch + v.patches) * v.hidden
    vis += v.hidden * v.scale * v.scale * text.hidden
    return lm, vis


def estimate(
    config: dict[str, Any],
    dtype: str,
    quantize: str | None,
    frames: int,
    max_tokens: int,
    prompt_tokens: int | None = None,
) -> Estimate:
    """Weights (language model quantized if asked; the vision tower never is), vision
    activations for all frames at once, and the KV cache for the prompt (`prompt_tokens`
    when counted, else estimated from the frames) plus the answer."""
    compute = BYTES_PER_PARAM.get(dtype, 2.0)
    lm, vis = parameter_counts(config)
    lm_bytes = BYTES_PER_PARAM[quantize] if quantize in ("4bit", "8bit") else compute
    weights = lm * lm_bytes + vis * compute
    vision, text = config.get("vision_config", {}), config.get("text_config", {})
    vh = int(vision.get("hidden_size", 768))
    vheads = int(vision.get("num_attention_heads", 12))
    patches = (int(vision.get("image_size", 512)) // int(vision.get("patch_size", 16))) ** 2
    per_frame = patches * vh * 4 * 20 + vheads * patches * patches * 4
    scale = int(config.get("scale_factor", 4))
    tokens_per_frame = patches // (scale * scale)
    if prompt_tokens is None:
        prompt_tokens = frames * (tokens_per_frame + FRAME_WRAPPER_TOKENS) + PROMPT_TEXT_TOKENS
    tokens = prompt_tokens + max_tokens
    heads = int(text.get("num_attention_heads", 9))
    head_dim = int(text.get("head_dim") or int(text.get("hidden_size", 576)) // heads)
    kv_heads = int(text.get("num_key_value_heads", heads))
    kv = 2 * int(text.get("num_hidden_layers", 30)) * kv_heads * head_dim * tokens * compute
    return Estimate(weights=weights, vision=frames * per_frame, kv_cache=kv)


def available_bytes(device: str) -> tuple[float, str]:
    """Memory a run may use on `device`, and where that number comes from."""
    if device == "cuda":
        import torch

        free, _total = torch.cuda.mem_get_info()
        return float(free), "free GPU memory"
    if platform.system() == "Linux":
        try:
            with open("/proc/meminfo", encoding="ascii") as handle:
                for line in handle:
                    if line.startswith("MemAvailable:"):
                        return float(line.split()[1]) * 1024, "available RAM"
        except OSError:
            pass
    label = "unified memory" if platform.system() == "Darwin" else "RAM"
    return total_memory_bytes() * 0.8, f"80% of {label}"


def gb(value: float) -> str:
    """Bytes as '1.23 GB'."""
    return f"{value / 1e9:.2f} GB"
