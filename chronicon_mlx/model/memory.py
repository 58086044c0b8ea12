"""Memory needed to run a SmolVLM2 checkpoint, and memory the machine has."""

from __future__ import annotations

import platform
from dataclasses import dataclass
from typing import Any

from ..machine import total_memory_bytes
from .shapes import ModelShape, TextShape, VisionShape

BYTES_PER_PARAM = {
    "float32": 4.0,
    "float16": 2.0,
    "bfloat16": 2.0,
    "int8": 1.0,  # the cpu engine: int8, one scale per output row
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
    """Weights (language model quantized if asked; the vision tower never is, though the cpu
    engine's int8 keeps its weights in 16 bits), vision activations for all frames at once,
    and the KV cache for the prompt (`prompt_tokens` when counted, else estimated from the
    frames) plus the answer."""
    compute = BYTES_PER_PARAM.get(dtype, 2.0)
    lm, vis = parameter_counts(config)
    lm_bytes = BYTES_PER_PARAM[quantize] if quantize in ("4bit", "8bit", "int8") else compute
    vis_bytes = min(compute, 2.0) if quantize == "int8" else compute
    weights = lm * lm_bytes + vis * vis_bytes
    shape = ModelShape.of(config)
    v, text = shape.vision, shape.text
    per_frame = v.patches * v.hidden * 4 * 20 + v.heads * v.patches * v.patches * 4
    if prompt_tokens is None:
        per_frame_tokens = shape.tokens_per_frame + FRAME_WRAPPER_TOKENS
        prompt_tokens = frames * per_frame_tokens + PROMPT_TEXT_TOKENS
    tokens = prompt_tokens + max_tokens
    kv = 2 * text.layers * text.kv_size * tokens * compute
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
