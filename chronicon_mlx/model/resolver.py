"""Resolving what the user named (an alias, a Hub id or a folder) to a checked checkpoint
folder on disk, before any weights load."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from ..errors import UsageError, field
from .catalog import MODELS, RANDOM_ALIASES, ModelSpec, find_spec
from .checks import check_model_folder
from .shapes import ModelShape

Source = Literal["folder", "cache", "download", "built"]


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

    @functools.cached_property
    def shape(self) -> ModelShape:
        """The checkpoint's sizes (read from its config once)."""
        return ModelShape.of(self.config)

    @property
    def tokens_per_frame(self) -> int:
        """Image tokens one video frame costs with this checkpoint."""
        return self.shape.tokens_per_frame

    @property
    def frame_size(self) -> int:
        """The square frame size the vision encoder sees."""
        return self.shape.vision.image_size

    @property
    def video_edge(self) -> int:
        """The longest edge SmolVLM2's video processor resizes a frame to (its
        ``video_sampling.video_size``), before squaring it to the encoder's size."""
        try:
            data = json.loads((self.path / "preprocessor_config.json").read_text("utf-8"))
            edge = data["video_sampling"]["video_size"]["longest_edge"]
        except (OSError, ValueError, KeyError, TypeError):
            return self.frame_size
        return edge if isinstance(edge, int) and edge > 0 else self.frame_size


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


def resolve(
    model: str,
    *,
    prefer_mlx: bool = True,
    allow_download: bool = True,
    on_contact: Callable[[str], None] | None = None,
) -> ModelRef:
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

    repo, path, source = hub.fetch(repos, allow_download=allow_download, on_contact=on_contact)
    config = check_model_folder(path)
    return ModelRef(path, source, repo, spec or find_spec(repo), config)


def _absolute(path: Path) -> Path:
    """`path` made absolute, links resolved where they lead somewhere."""
    try:
        return path.resolve()
    except (OSError, RuntimeError):  # a link loop: kept as given, refused by the check
        return path.absolute()
