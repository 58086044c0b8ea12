"""Resolving what the user named (an alias, a Hub id or a folder) to a checked checkpoint
folder on disk, before any weights load."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from ..errors import ModelError, UsageError, field
from .catalog import MODELS, RANDOM_ALIASES, ModelSpec, find_spec

Source = Literal["folder", "cache", "download", "built"]
SUPPORTED_MODEL_TYPES = ("smolvlm", "idefics3")
REQUIRED_FILES = (
    "config.json",
    "tokenizer.json",
    "tokenizer_config.json",
    "preprocessor_config.json",
)


@dataclass(frozen=True)
class ModelRef:
    """A model the user named, resolved to a folder on disk."""

    path: Path
    source: Source
    hub_id: str | None
    spec: ModelSpec | None
    config: dict[str, Any]
    alias: str | None = None

    @property
    def name(self) -> str:
        """A short display name: the Hub id, the random-weight alias, or the folder name."""
        return self.hub_id or self.alias or self.path.name

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
    """A value that names a folder rather than a Hub id or an alias: it starts with ``.``,
    ``/`` or ``~``, has more than one ``/``, names something that exists (a dangling or
    looping link too), or its parent folder exists (``ckpt/smolvlm`` beside a ``ckpt/``)."""
    if value.startswith((".", "/", "~")) or value.count("/") > 1 or "\\" in value:
        return True
    path = Path(value).expanduser()
    try:
        return (
            path.exists()
            or path.is_symlink()
            or (path.parent != Path(".") and path.parent.is_dir())
        )
    except OSError:
        return True


def check_model_folder(path: Path) -> dict[str, Any]:
    """Check that a folder holds a complete SmolVLM2 checkpoint; return its config.

    The check reads only small JSON files, so a wrong folder fails before any weights load.
    """
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
        raise UsageError(
            f"{field('model')} is empty", hint="pass 256m, 500m, 2.2b, a Hub id or a folder"
        )
    size = RANDOM_ALIASES.get(value.lower())
    if size is not None:
        from .random_weights import cached_checkpoint

        path = cached_checkpoint(size)
        return ModelRef(
            path, "built", None, find_spec(size), check_model_folder(path), value.lower()
        )
    spec = find_spec(value)
    if spec is None and looks_like_path(value):
        path = _absolute(Path(value).expanduser())
        config = check_model_folder(path)
        return ModelRef(path, "folder", None, None, config)
    if spec is None and value.count("/") != 1:
        known = ", ".join([*(s.alias for s in MODELS), *RANDOM_ALIASES])
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
    return ModelRef(path, source, repo, spec or find_spec(repo), config)


def _absolute(path: Path) -> Path:
    """`path` made absolute, links resolved where they lead somewhere."""
    try:
        return path.resolve()
    except (OSError, RuntimeError):  # a link loop: kept as given, refused by the check
        return path.absolute()
