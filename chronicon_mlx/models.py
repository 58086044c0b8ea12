"""Known SmolVLM2 models, model resolution (alias, Hub id or folder) and checkpoint checks."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import ModelError, UsageError

SUPPORTED_MODEL_TYPES = ("smolvlm", "idefics3")
REQUIRED_FILES = (
    "config.json",
    "tokenizer.json",
    "tokenizer_config.json",
    "preprocessor_config.json",
)


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

DEFAULT_MODEL = "500m"


def find_spec(alias: str) -> ModelSpec | None:
    """Return the spec for an alias (case-insensitive), or None."""
    key = alias.strip().lower()
    for spec in MODELS:
        if key in (spec.alias, spec.name.lower(), spec.hub_id.lower(), spec.mlx_hub_id.lower()):
            return spec
    return None


@dataclass(frozen=True)
class ModelRef:
    """A model the user named, resolved to a folder on disk."""

    requested: str
    path: Path
    source: str  # "folder" | "cache" | "download"
    hub_id: str | None
    spec: ModelSpec | None
    config: dict[str, Any]

    @property
    def name(self) -> str:
        """A short display name: the Hub id, or the folder name."""
        return self.hub_id or self.path.name

    @property
    def random_weights(self) -> bool:
        """True for checkpoints built offline with random weights (their answers are noise)."""
        return bool(self.config.get("chronicon_random_weights", False))

    @property
    def tokens_per_frame(self) -> int:
        """Image tokens one video frame costs with this checkpoint."""
        return image_seq_len(self.config)

    @property
    def frame_size(self) -> int:
        """The square frame size the vision encoder sees."""
        return int(self.config.get("vision_config", {}).get("image_size", 512))


def image_seq_len(config: dict[str, Any]) -> int:
    """Image tokens per frame: (image_size / patch_size)^2 / scale_factor^2."""
    vision = config.get("vision_config", {})
    patches = int(vision.get("image_size", 512)) // int(vision.get("patch_size", 16))
    scale = int(config.get("scale_factor", 4))
    return (patches * patches) // (scale * scale)


def looks_like_path(value: str) -> bool:
    """A value that names a folder rather than a Hub id or an alias."""
    return (
        value.startswith((".", "/", "~"))
        or value.count("/") > 1
        or "\\" in value
        or Path(value).expanduser().exists()
    )


def check_model_folder(path: Path) -> dict[str, Any]:
    """Check that a folder holds a complete SmolVLM2 checkpoint; return its config.

    The check reads only small JSON files, so a wrong folder fails before any weights load.
    """
    if not path.exists():
        raise ModelError(
            f"model folder not found: {path}",
            hint="pass an alias (256m, 500m, 2.2b), a Hub id, or an existing folder",
        )
    if not path.is_dir():
        raise ModelError(
            f"model path is not a folder: {path}",
            hint="pass the folder that holds config.json and model.safetensors",
        )
    missing = [name for name in REQUIRED_FILES if not (path / name).is_file()]
    if not any(path.glob("*.safetensors")):
        missing.append("*.safetensors")
    if missing:
        raise ModelError(
            f"model folder {path} is missing {', '.join(missing)}",
            hint="download the whole checkpoint again (huggingface-cli download <repo>)",
        )
    try:
        config = json.loads((path / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelError(
            f"cannot read {path / 'config.json'}: {exc}",
            hint="the checkpoint looks damaged; download it again",
        ) from exc
    model_type = config.get("model_type") if isinstance(config, dict) else None
    if model_type not in SUPPORTED_MODEL_TYPES:
        raise ModelError(
            f"{path} holds a '{model_type}' model, not SmolVLM2",
            hint="chronicon-mlx runs SmolVLM2 checkpoints; see `chronicon-mlx models`",
        )
    return dict(config)


def resolve(model: str, *, prefer_mlx: bool = True, allow_download: bool = True) -> ModelRef:
    """Resolve an alias, Hub id or folder to a checkpoint folder on disk.

    A folder is used as it is and never touches the network. An alias or Hub id is looked up
    in the Hugging Face cache first and downloaded (with progress) only when missing and the
    Hub is allowed.
    """
    value = model.strip()
    if not value:
        raise UsageError("--model is empty", hint="pass 256m, 500m, 2.2b, a Hub id or a folder")
    spec = find_spec(value)
    if spec is None and looks_like_path(value):
        path = Path(value).expanduser().resolve()
        config = check_model_folder(path)
        return ModelRef(value, path, "folder", None, None, config)
    if spec is None and value.count("/") != 1:
        known = ", ".join(s.alias for s in MODELS)
        raise UsageError(
            f"unknown model '{value}'",
            hint=f"use one of {known}, a Hub id like HuggingFaceTB/SmolVLM2-500M-Video-Instruct,"
            " or a local folder",
        )
    if spec is not None:
        repos = [spec.mlx_hub_id, spec.hub_id] if prefer_mlx else [spec.hub_id]
    else:
        repos = [value]
    from . import hub

    repo, path, source = hub.fetch(repos, allow_download=allow_download)
    config = check_model_folder(path)
    return ModelRef(value, path, source, repo, spec or find_spec(repo), config)


def spec_config(spec: ModelSpec) -> dict[str, Any]:
    """A config dict with the spec's architecture (enough for memory estimates)."""
    return {
        "text_config": {**spec.text, "vocab_size": 49280},
        "vision_config": spec.vision,
        "scale_factor": spec.scale_factor,
    }


def catalog(frames: int = 8, max_tokens: int = 256) -> list[dict[str, Any]]:
    """Every known model as a plain dict: Hub ids, cost, whether it is cached, the memory it
    needs per dtype/quantization (for `frames` frames), and the backends that can run it here."""
    from . import backends, hub, memory

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
