"""The model inventory: every known SmolVLM2 model joined with what this machine has (the
Hugging Face cache, memory, installed backends)."""

from __future__ import annotations

from typing import Any

from .. import backends
from ..model import hub, memory
from ..model.catalog import MODELS, spec_config
from ..options.choices import DEFAULT_FRAMES, DEFAULT_MAX_TOKENS, DEFAULT_MODEL


def catalog(
    frames: int = DEFAULT_FRAMES, max_tokens: int = DEFAULT_MAX_TOKENS
) -> list[dict[str, Any]]:
    """Every known model as a plain dict: Hub ids, cost, whether it is cached, the memory it
    needs per dtype/quantization (for `frames` frames), and the backends that can run it here."""

    installed = [c for c in backends.candidates() if not backends.missing_modules(c.backend)]
    have, _source = memory.available_bytes("cpu")
    rows = []
    for spec in MODELS:
        cached = [repo for repo in (spec.mlx_hub_id, spec.hub_id) if hub.cached_path(repo)]
        config = spec_config(spec)
        needs = {
            variant: memory.estimate(
                config,
                "bfloat16" if variant in ("4bit", "8bit") else variant,
                variant,
                frames,
                max_tokens,
            ).total
            for variant in ("float32", "bfloat16", "8bit", "4bit")
        }
        runnable = [str(c) for c in installed if c.device == "cuda" or min(needs.values()) <= have]
        rows.append(
            {
                "alias": spec.alias,
                "name": spec.name,
                "hub_id": spec.hub_id,
                "mlx_hub_id": spec.mlx_hub_id,
                "parameters": spec.parameters,
                "tokens_per_frame": spec.tokens_per_frame,
                "frame_size": spec.frame_size,
                "memory_gb": spec.memory_gb,
                "note": spec.note,
                "default": spec.alias == DEFAULT_MODEL,
                "cached": bool(cached),
                "cached_repos": cached,
                "memory_needed_gb": {k: round(v / 1e9, 2) for k, v in needs.items()},
                "backends": runnable,
            }
        )
    return rows
