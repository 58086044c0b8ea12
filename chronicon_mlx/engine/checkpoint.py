"""A checkpoint's tensors by transformers' names, read from its safetensors files as float32,
checked for shape. The files are memory-mapped for a section at a time (`opened`): a tensor
kept as it is stays a view of the file, and the pages of one that was converted (to 8 bits,
or copied into a new layout) leave the process when the section's mapping closes."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

TEXT = "model.text_model."
VISION = "model.vision_model."
CONNECTOR = "model.connector.modality_projection.proj.weight"


class CheckpointError(ValueError):
    """The checkpoint does not hold SmolVLM2's tensors under transformers' names and shapes."""


class Checkpoint:
    """The tensors of a checkpoint folder (one safetensors file, or shards with an index)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.files = _weight_files(folder)

    def __contains__(self, name: str) -> bool:
        return name in self.files

    @contextlib.contextmanager
    def opened(self) -> Iterator[Section]:
        """The files mapped for one section of reading (unmapped at its end)."""
        section = Section(self)
        try:
            yield section
        finally:
            section.close()


class Section:
    """Tensors read while a checkpoint's files are mapped."""

    def __init__(self, checkpoint: Checkpoint) -> None:
        self.checkpoint = checkpoint
        self._handles: dict[tuple[str, str], Any] = {}

    def __contains__(self, name: str) -> bool:
        return name in self.checkpoint.files

    def _handle(self, file: str, framework: str) -> Any:
        from safetensors import safe_open

        key = (file, framework)
        if key not in self._handles:
            self._handles[key] = safe_open(str(self.checkpoint.folder / file), framework=framework)
        return self._handles[key]

    def read(self, name: str, shape: tuple[int, ...]) -> Any:
        """The tensor `name` as float32: a view of the mapped file when it is stored in
        float32 (copy it to keep it past the section), else a converted copy;
        CheckpointError when it is missing or of another shape."""
        import torch

        files = self.checkpoint.files
        if name not in files:
            raise CheckpointError(f"{name} is not in the checkpoint")
        tensor = self._handle(files[name], "pt").get_tensor(name)
        if tuple(tensor.shape) != shape:
            raise CheckpointError(f"{name} is {tuple(tensor.shape)}, not {shape}")
        return tensor.to(torch.float32)

    def close(self) -> None:
        """Let the files' mappings go (views read from them keep theirs)."""
        self._handles.clear()


def _weight_files(folder: Path) -> dict[str, str]:
    """Each tensor's file: from the shard index when there is one, else model.safetensors."""
    index = folder / "model.safetensors.index.json"
    if index.is_file():
        mapping = json.loads(index.read_text())["weight_map"]
        if not isinstance(mapping, dict):
            raise CheckpointError(f"{index} has no weight map")
        return {str(k): str(v) for k, v in mapping.items()}
    from safetensors import safe_open

    single = folder / "model.safetensors"
    with safe_open(str(single), framework="pt") as handle:
        return dict.fromkeys(handle.keys(), single.name)
