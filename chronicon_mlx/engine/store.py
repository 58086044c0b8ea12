"""The engine's 8-bit text weights kept on disk: quantized once per checkpoint, then read back
as they are (memory-mapped, nothing converted), so a later load neither reads the float32
weights nor holds them while it quantizes."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import Any

from ..model.shapes import TextShape
from .linear import Linear
from .tuning import Kernels
from .weights import TextLayer, TextWeights

FORMAT = "chronicon-engine-int8"
VERSION = "3"
PROJECTIONS = ("qkv", "o", "gate_up", "down")


def save(path: Path, weights: TextWeights) -> None:
    """Write 8-bit text weights (atomically; a failure only costs a quantization later)."""
    import torch

    tensors: dict[str, Any] = {"norm": weights.norm}
    linears = {"head": weights.head}
    if weights.embed is not weights.head:
        linears["embed"] = weights.embed
    for n, layer in enumerate(weights.layers):
        tensors[f"{n}.norm_in"], tensors[f"{n}.norm_post"] = layer.norm_in, layer.norm_post
        linears.update({f"{n}.{name}": getattr(layer, name) for name in PROJECTIONS})
    for prefix, linear in linears.items():
        tensors[f"{prefix}.weight"], tensors[f"{prefix}.scales"] = linear.weight, linear.scales
    kept = {
        "format": FORMAT,
        "version": VERSION,
        "layers": len(weights.layers),
        "tensors": {name: tensor.contiguous() for name, tensor in tensors.items()},
    }
    with contextlib.suppress(OSError):
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        os.close(fd)
        try:
            torch.save(kept, temporary)
            os.replace(temporary, path)
        finally:
            with contextlib.suppress(OSError):
                os.unlink(temporary)


def load(path: Path, text: TextShape, kernels: Kernels) -> TextWeights | None:
    """The 8-bit text weights kept at `path`, or None when there are none or they do not fit
    `text`. They are views of the mapped file (torch's format aligns each tensor for the
    kernels): a page is read when first used and shared with the system's file cache."""
    import pickle
    import zipfile

    import torch

    if path.is_symlink() or not path.is_file():
        return None
    try:
        kept = torch.load(path, mmap=True, weights_only=True)
        if not isinstance(kept, dict) or kept.get("format") != FORMAT:
            return None
        if kept.get("version") != VERSION or kept.get("layers") != text.layers:
            return None
        return _weights(kept["tensors"], text, kernels)
    except (
        OSError,
        RuntimeError,
        KeyError,
        ValueError,
        pickle.UnpicklingError,
        zipfile.BadZipFile,
    ):
        return None


def _weights(tensors: dict[str, Any], text: TextShape, kernels: Kernels) -> TextWeights:
    def tensor(name: str, shape: tuple[int, ...]) -> Any:
        found = tensors[name]
        if tuple(found.shape) != shape:
            raise ValueError(f"{name} does not fit the model")
        return found

    def linear(prefix: str, rows: int, width: int) -> Linear:
        weight = tensor(f"{prefix}.weight", (rows, width))
        return Linear.quantized(weight, tensor(f"{prefix}.scales", (rows,)), kernels)

    h, q, kv, ffn = text.hidden, text.q_size, text.kv_size, text.ffn
    layers = [
        TextLayer(
            norm_in=tensor(f"{n}.norm_in", (h,)),
            qkv=linear(f"{n}.qkv", q + 2 * kv, h),
            o=linear(f"{n}.o", h, q),
            norm_post=tensor(f"{n}.norm_post", (h,)),
            gate_up=linear(f"{n}.gate_up", 2 * ffn, h),
            down=linear(f"{n}.down", h, ffn),
        )
        for n in range(text.layers)
    ]
    head = linear("head", text.vocab, h)
    embed = linear("embed", text.vocab, h) if "embed.weight" in tensors else head
    return TextWeights(embed, layers, tensor("norm", (h,)), head)


def key_of(fingerprint: str, engine_version: str) -> str:
    """The file name of a checkpoint's 8-bit weights."""
    return f"int8-{engine_version}-{VERSION}-{fingerprint}.pt"
