"""The int8 product with 8-bit activations: fbgemm's dynamic linear (torch's quantized
`linear_dynamic`), which quantizes its input at each call and multiplies 8-bit by 8-bit.

fbgemm quantizes a whole input with one range, so rows that run together would change each
other's numbers. Each row is therefore divided by its own largest magnitude first, and two
input columns hold +1 and -1 (against weight columns of zeros): every row then spans exactly
[-1, 1], the range is the same whatever runs beside it, and a row's result is the same alone
or in a batch, bit for bit (its integer sums are exact). The row's scale multiplies its
outputs back."""

from __future__ import annotations

import functools
import threading
import warnings
from typing import Any

# Rows of a product up to which the scaled input is written into a kept buffer (a decode
# step's sequences); a longer input (a prompt's rows) is assembled afresh.
KEPT_ROWS = 16
_TINY = 1e-30


class DynamicProduct:
    """`x W^T` for int8 weights W [out, in] with a scale per output row, x float32 [rows, in];
    float32 [rows, out] out."""

    def __init__(self, weight: Any, scales: Any, reduce_range: bool) -> None:
        import torch

        out = int(weight.shape[0])
        self.width = int(weight.shape[1])
        self.reduce_range = reduce_range
        padded = torch.cat((weight, torch.zeros(out, 2, dtype=torch.int8)), dim=1)
        with warnings.catch_warnings():
            # torch marks its quantized tensors for removal one day; fbgemm's product is
            # reached through them today (`available` says no once it is gone).
            warnings.simplefilter("ignore")
            quantized = torch._make_per_channel_quantized_tensor(
                padded, scales.double(), torch.zeros(out, dtype=torch.long), 0
            )
            self.packed = torch.ops.quantized.linear_prepack(quantized, None)

    def __call__(self, x: Any) -> Any:
        import torch

        rows = int(x.shape[0])
        scale = torch.linalg.vector_norm(x, float("inf"), dim=1, keepdim=True).clamp_(min=_TINY)
        if rows <= KEPT_ROWS:
            whole, part = _buffers(rows, self.width)
            torch.div(x, scale, out=part)
        else:
            whole = torch.cat((x / scale, _ends().expand(rows, 2)), dim=1)
        out = torch.ops.quantized.linear_dynamic(whole, self.packed, self.reduce_range)
        return out.mul_(scale)


class _Kept(threading.local):
    buffers: dict[tuple[int, int], tuple[Any, Any]]

    def __init__(self) -> None:
        self.buffers = {}


_kept = _Kept()


@functools.cache
def _ends() -> Any:
    """The two input columns every row ends with: +1 and -1."""
    import torch

    return torch.tensor([[1.0, -1.0]])


def _buffers(rows: int, width: int) -> tuple[Any, Any]:
    """This thread's input buffer [rows, width + 2] (its last columns +1 and -1) and the view
    of its first `width` columns; a product reads its input before it returns, so the layers
    of one thread share them."""
    import torch

    found = _kept.buffers.get((rows, width))
    if found is None:
        # A plain tensor, even when made in inference mode: it is written in and out of it.
        with torch.inference_mode(False):
            whole = torch.empty(rows, width + 2)
            whole[:, width:] = _ends()
        found = _kept.buffers[(rows, width)] = (whole, whole[:, :width])
    return found


@functools.cache
def available() -> bool:
    """Whether this torch has fbgemm's dynamic product and it gives a row the same result
    alone and in a batch, within 8-bit rounding of the float32 product."""
    import torch

    if not any(e in torch.backends.quantized.supported_engines for e in ("x86", "fbgemm")):
        return False
    generator = torch.Generator().manual_seed(0)
    weight = torch.randn(40, 24, generator=generator)
    x = torch.randn(5, 24, generator=generator) * torch.tensor([[0.1], [1], [10], [3], [0.5]])
    scales = weight.abs().amax(dim=1) / 127
    quantized = torch.round(weight / scales[:, None]).to(torch.int8)
    try:
        product = DynamicProduct(quantized, scales, reduce_range=False)
        batched = product(x)
        alone = torch.cat([product(x[n : n + 1]) for n in range(5)])
    except (RuntimeError, TypeError, ValueError, AttributeError):
        return False
    exact = x @ weight.T
    close = bool(((batched - exact).abs() <= 0.03 * exact.abs().amax(dim=1, keepdim=True)).all())
    return torch.equal(batched, alone) and close


@functools.cache
def vnni() -> bool:
    """Whether this CPU multiplies 8-bit numbers into 32-bit sums in one instruction (AVX-512
    VNNI): without it, fbgemm's 8-bit pairs can saturate 16-bit sums at full range, so its
    inputs are kept to 7 bits."""
    from ..machine import cpu_flags

    return "avx512_vnni" in cpu_flags()
