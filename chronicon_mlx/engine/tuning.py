"""How the engine runs on this CPU: threads and kernels, given as an argument and recorded
with every result; nothing is read from the environment."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any, Literal

LinearKernel = Literal["auto", "onednn", "torch"]
LINEAR_KERNELS: tuple[str, ...] = ("auto", "onednn", "torch")


@dataclass(frozen=True)
class EngineTuning:
    """The engine's tuning.

    `threads`: torch's threads for the products and attention (None: torch's own choice, one
    per core). `linear`: the float32 product's kernel: ``onednn`` (torch's oneDNN linear
    operator, with a layer's GELU fused into it, the text model's weights reordered at load
    into oneDNN's layout), ``torch`` (torch's own linear), or
    ``auto``: oneDNN where this torch has it and it agrees with torch's own linear.
    """

    threads: int | None = None
    linear: LinearKernel = "auto"

    def resolved(self) -> Kernels:
        """The kernels this tuning runs on this machine."""
        linear = self.linear
        if linear == "auto":
            linear = "onednn" if onednn_linear() is not None else "torch"
        elif linear == "onednn" and onednn_linear() is None:
            raise ValueError("this torch has no usable oneDNN linear operator")
        return Kernels(linear=linear, threads=self.threads)


@dataclass(frozen=True)
class Kernels:
    """The kernels chosen, as results record them."""

    linear: str
    threads: int | None

    def record(self) -> dict[str, str]:
        """What the engine's results say about its kernels."""
        threads = "default" if self.threads is None else str(self.threads)
        return {"linear": self.linear, "threads": threads}


@functools.cache
def onednn_linear() -> Any:
    """torch's oneDNN linear operator (the one torch's compiler emits for CPU linears), when
    this torch has it and it gives torch's own linear and tanh GELU within float32
    rounding; else None."""
    import torch

    if not torch.backends.mkldnn.is_available():
        return None
    op = getattr(torch.ops.mkldnn, "_linear_pointwise", None)
    if op is None:
        return None
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(3, 5, 16, generator=generator)
    weight, bias = torch.randn(24, 16, generator=generator), torch.randn(24, generator=generator)
    plain = torch.nn.functional.linear(x, weight, bias)
    gelu = torch.nn.functional.gelu(plain, approximate="tanh")
    reorder = getattr(torch.ops.mkldnn, "_reorder_linear_weight", None)
    try:
        with torch.inference_mode():
            same = torch.allclose(op(x, weight, bias, "none", [], ""), plain, atol=1e-5)
            fused = torch.allclose(op(x, weight, bias, "gelu", [], "tanh"), gelu, atol=1e-5)
            packed = reorder is not None and torch.allclose(
                op(x, reorder(weight, 8), bias, "none", [], ""), plain, atol=1e-5
            )
    except (RuntimeError, TypeError, ValueError):
        return None
    return op if same and fused and packed else None


def onednn_reorder() -> Any:
    """torch's operator that lays a float32 weight [out, in] out in oneDNN's blocked format for
    a given batch size (present wherever `onednn_linear` is not None)."""
    import torch

    return torch.ops.mkldnn._reorder_linear_weight
