"""Checks of a model folder made before any weights load: every file present, a SmolVLM2
config with sane numbers, undamaged weights, one tokens-per-frame figure for both backends,
and nothing that would run code from the folder or fetch code for it."""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any

from ..errors import ModelError
from .shapes import ModelShape

SUPPORTED_MODEL_TYPES = ("smolvlm", "idefics3")
REQUIRED_FILES = (
    "config.json",
    "tokenizer.json",
    "tokenizer_config.json",
    "preprocessor_config.json",
)
SETTINGS_FILES = (
    "config.json",
    "tokenizer_config.json",
    "processor_config.json",
    "preprocessor_config.json",
    "video_preprocessor_config.json",
    "generation_config.json",
)
CODE_KEYS = ("auto_map", "model_file", "custom_pipelines")
"""Keys that make transformers or mlx-vlm import Python from the folder or the Hub."""
POSITIVE = {
    "": ("scale_factor",),
    "vision_config": (
        "image_size",
        "patch_size",
        "hidden_size",
        "num_hidden_layers",
        "num_attention_heads",
        "intermediate_size",
    ),
    "text_config": (
        "hidden_size",
        "num_hidden_layers",
        "num_attention_heads",
        "num_key_value_heads",
        "intermediate_size",
        "vocab_size",
        "max_position_embeddings",
    ),
}
MAX_HEADER_BYTES = 100_000_000
MAX_DEPTH = 64
DAMAGED = "the checkpoint looks damaged; download it again"


def check_model_folder(path: Path) -> dict[str, Any]:
    """Check that a folder holds a complete, safe SmolVLM2 checkpoint; return its config.

    Only small files are read (JSON and the weights' headers), so a wrong folder fails
    before any weights load.
    """
    _check_files(path)
    settings = {name: _read(path / name) for name in SETTINGS_FILES if (path / name).is_file()}
    for name, data in settings.items():
        _refuse_code(path / name, data)
    config = settings["config.json"]
    model_type = config.get("model_type")
    if model_type not in SUPPORTED_MODEL_TYPES:
        raise ModelError(
            f"{path} holds a '{model_type}' model, not SmolVLM2",
            hint="chronicon-mlx runs SmolVLM2 checkpoints; see `chronicon-mlx models`",
        )
    _check_numbers(path / "config.json", config)
    _check_tokens_per_frame(path, config, settings.get("processor_config.json"))
    for weights in sorted(path.glob("*.safetensors")):
        _check_weights(weights)
    return config


def _check_files(path: Path) -> None:
    if path.is_symlink() and not path.exists():
        raise ModelError(
            f"model folder not found: {path} is a link that leads nowhere (or in a loop)",
            hint="pass the folder that holds config.json and model.safetensors",
        )
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
            hint="download the whole checkpoint again (hf download <repo>)",
        )


def _read(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelError(f"cannot read {path}: {exc}", hint=DAMAGED) from exc
    except RecursionError as exc:
        raise ModelError(f"{path} nests its values too deeply to read", hint=DAMAGED) from exc
    if not isinstance(data, dict):
        raise ModelError(f"{path} does not hold a JSON object", hint=DAMAGED)
    return data


def _refuse_code(path: Path, data: Any) -> None:
    """Refuse any key that would make a library import code from the folder or the Hub, and
    settings nested deeper than any checkpoint's (the libraries would recurse through them)."""
    pending: list[tuple[Any, str, int]] = [(data, "", 0)]
    while pending:
        value, where, depth = pending.pop()
        if depth > MAX_DEPTH:
            raise ModelError(f"{path} nests its values too deeply to read", hint=DAMAGED)
        children = value.items() if isinstance(value, dict) else []
        if isinstance(value, list):
            children = [(str(n), item) for n, item in enumerate(value)]
        for key, child in children:
            if isinstance(value, dict) and key in CODE_KEYS:
                raise ModelError(
                    f"{path} has '{where}{key}': loading this folder would run Python code"
                    " from it (or fetch code for it)",
                    hint=f"SmolVLM2 needs no custom code: remove '{where}{key}' from"
                    f" {path.name}, or use the released checkpoint",
                )
            pending.append((child, f"{where}{key}.", depth + 1))


def _check_numbers(path: Path, config: dict[str, Any]) -> None:
    """The architecture numbers the tool and the libraries compute with: whole, above 0."""
    for section, keys in POSITIVE.items():
        table = config.get(section, {}) if section else config
        if not isinstance(table, dict):
            raise ModelError(f"{path}: '{section}' must be an object", hint=DAMAGED)
        for key in keys:
            if key not in table:
                continue
            value = table[key]
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                name = f"{section}.{key}" if section else key
                raise ModelError(
                    f"{path}: '{name}' must be a whole number above 0 (got {value!r})",
                    hint=DAMAGED,
                )


def _check_tokens_per_frame(
    path: Path, config: dict[str, Any], processor: dict[str, Any] | None
) -> None:
    """config.json (which transformers reads) and processor_config.json's image_seq_len
    (which mlx-vlm reads) must agree, or the two backends build different prompts."""
    if processor is None or "image_seq_len" not in processor:
        return
    declared, derived = processor["image_seq_len"], ModelShape.of(config).tokens_per_frame
    if declared != derived:
        raise ModelError(
            f"{path / 'processor_config.json'} says image_seq_len {declared!r} but config.json"
            f" gives {derived} tokens per frame (image_size, patch_size, scale_factor)",
            hint="the two files disagree; download the checkpoint again or fix"
            " processor_config.json",
        )


class _Damaged(ValueError):
    """A safetensors file whose header does not describe it."""


def _check_weights(path: Path) -> None:
    """The safetensors header is whole and every tensor lies inside the file."""
    try:
        size = path.stat().st_size
        with path.open("rb") as handle:
            head = handle.read(8)
            length = struct.unpack("<Q", head)[0] if len(head) == 8 else -1
            if not 0 < length <= min(MAX_HEADER_BYTES, size - 8):
                raise _Damaged("its header is cut off")
            header = json.loads(handle.read(length))
        ends = [v["data_offsets"][1] for k, v in header.items() if k != "__metadata__"]
        if max(ends, default=0) > size - 8 - length:
            raise _Damaged("the file is shorter than its header says")
    except _Damaged as exc:
        raise ModelError(f"{path} is damaged: {exc}", hint=DAMAGED) from exc
    except (OSError, ValueError, KeyError, TypeError, IndexError, AttributeError) as exc:
        raise ModelError(
            f"{path} is damaged: its header cannot be read ({exc})", hint=DAMAGED
        ) from exc
