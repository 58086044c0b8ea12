"""A checkpoint's tensors by transformers' names, read from its safetensors files (memory
mapped: a tensor's bytes are read when it is asked for), as float32, checked for shape."""

from __future__ import annotations

import json
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
        from safetensors import safe_open

        self.folder = folder
        self.files = _weight_files(folder)
        self._handles: dict[str, Any] = {
            name: safe_open(str(folder / name), framework="pt") for name in set(self.files.values())
        }

    def __contains__(self, name: str) -> bool:
        return name in self.files

    def read(self, name: str, shape: tuple[int, ...]) -> Any:
        """The tensor `name` as float32; CheckpointError when missing or of another shape."""
        import torch

        if name not in self.files:
            raise CheckpointError(f"{name} is not in the checkpoint")
        tensor = self._handles[self.files[name]].get_tensor(name)
        if tuple(tensor.shape) != shape:
            raise CheckpointError(f"{name} is {tuple(tensor.shape)}, not {shape}")
        return tensor.to(torch.float32)


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
