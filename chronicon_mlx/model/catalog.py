"""The SmolVLM2 releases: aliases, Hub ids, architectures and costs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..options.choices import DEFAULT_MODEL as DEFAULT_MODEL

VOCAB_SIZE = 49280
RANDOM_ALIASES = {
    "tiny-random": "tiny",
    "256m-random": "256m",
    "500m-random": "500m",
    "2.2b-random": "2.2b",
}
"""Checkpoints built offline with random weights (answers are noise): a tiny one to try the
tool without the Hub, and the real architectures for speed measurements."""


@dataclass(frozen=True)
class ModelSpec:
    """A SmolVLM2 release: where it lives and what it costs."""

    alias: str
    name: str
    hub_id: str
    mlx_hub_id: str
    parameters: str
    tokens_per_frame: int
    frame_size: int
    memory_gb: float
    note: str
    text: dict[str, int]
    vision: dict[str, int]
    scale_factor: int


MODELS: tuple[ModelSpec, ...] = (
    ModelSpec(
        alias="256m",
        name="SmolVLM2-256M-Video-Instruct",
        hub_id="HuggingFaceTB/SmolVLM2-256M-Video-Instruct",
        mlx_hub_id="mlx-community/SmolVLM2-256M-Video-Instruct-mlx",
        parameters="256M",
        tokens_per_frame=64,
        frame_size=512,
        memory_gb=1.38,
        note="fastest; rough descriptions",
        text={
            "hidden_size": 576,
            "num_hidden_layers": 30,
            "num_attention_heads": 9,
            "num_key_value_heads": 3,
            "intermediate_size": 1536,
        },
        vision={
            "hidden_size": 768,
            "num_hidden_layers": 12,
            "num_attention_heads": 12,
            "intermediate_size": 3072,
            "image_size": 512,
            "patch_size": 16,
        },
        scale_factor=4,
    ),
    ModelSpec(
        alias="500m",
        name="SmolVLM2-500M-Video-Instruct",
        hub_id="HuggingFaceTB/SmolVLM2-500M-Video-Instruct",
        mlx_hub_id="mlx-community/SmolVLM2-500M-Video-Instruct-mlx",
        parameters="500M",
        tokens_per_frame=64,
        frame_size=512,
        memory_gb=1.8,
        note="balanced default",
        text={
            "hidden_size": 960,
            "num_hidden_layers": 32,
            "num_attention_heads": 15,
            "num_key_value_heads": 5,
            "intermediate_size": 2560,
        },
        vision={
            "hidden_size": 768,
            "num_hidden_layers": 12,
            "num_attention_heads": 12,
            "intermediate_size": 3072,
            "image_size": 512,
            "patch_size": 16,
        },
        scale_factor=4,
    ),
    ModelSpec(
        alias="2.2b",
        name="SmolVLM2-2.2B-Instruct",
        hub_id="HuggingFaceTB/SmolVLM2-2.2B-Instruct",
        mlx_hub_id="mlx-community/SmolVLM2-2.2B-Instruct-mlx",
        parameters="2.2B",
        tokens_per_frame=81,
        frame_size=384,
        memory_gb=5.2,
        note="best answers; slowest",
        text={
            "hidden_size": 2048,
            "num_hidden_layers": 24,
            "num_attention_heads": 32,
            "num_key_value_heads": 32,
            "intermediate_size": 8192,
        },
        vision={
            "hidden_size": 1152,
            "num_hidden_layers": 27,
            "num_attention_heads": 16,
            "intermediate_size": 4304,
            "image_size": 384,
            "patch_size": 14,
        },
        scale_factor=3,
    ),
)


def find_spec(alias: str) -> ModelSpec | None:
    """Return the spec for an alias (case-insensitive), or None."""
    key = alias.strip().lower()
    for spec in MODELS:
        if key in (spec.alias, spec.name.lower(), spec.hub_id.lower(), spec.mlx_hub_id.lower()):
            return spec
    return None


def spec_config(spec: ModelSpec) -> dict[str, Any]:
    """A config dict with the spec's architecture (enough for memory estimates)."""
    return {
        "text_config": {**spec.text, "vocab_size": VOCAB_SIZE},
        "vision_config": spec.vision,
        "scale_factor": spec.scale_factor,
    }
