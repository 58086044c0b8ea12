"""A linear layer as the engine stores and runs it: float32 weights through oneDNN (laid out
at load in oneDNN's own blocked format) or torch, or 8-bit weights (one scale per output
channel) through torch's int8 weight-only kernel or fbgemm's 8-bit by 8-bit one, or
bfloat16 weights multiplied in bfloat16 (float32 sums)."""

from __future__ import annotations

from typing import Any

from .dynamic import DynamicProduct
from .tuning import Kernels, onednn_bfloat16, onednn_linear, onednn_reorder

INT8_MAX = 127
# The batch size oneDNN lays a packed weight out for. A decode step's products have a row
# per sequence: laid out for 8 rows, the decoder's float32 products read their weights at
# 53-55 GB/s for 1 to 4 rows against 32 GB/s in the plain layout, and prefill's 680 rows
# run 10% faster (EPYC Zen 4, 2 threads, torch 2.13; a loop over the 256M decoder's 120
# products).
PACK_ROWS = 8
# bfloat16 weights are laid out for the vision tower's products, a frame's 1024 patches at
# a time.
BFLOAT16_ROWS = 1024


class Linear:
    """`y = x W^T + b` (then a tanh GELU when `gelu`), for x of any leading shape.

    float32: W runs through the tuning's kernel; with oneDNN and `pack`, it is reordered once
    into oneDNN's blocked layout (a copy: `weight` may be a view of a mapped file), else kept
    as [out, in]. `bfloat16`: W (and b) are kept in bfloat16, laid out for oneDNN where it
    runs, and each product takes bfloat16 rows (float32 ones are rounded to it) and sums in
    float32; the result comes back in the input's dtype; with `widen`, W is kept in bfloat16
    but widened to float32 for each product (float32 arithmetic). int8: W becomes
    int8 [out, in] with a float scale per output row (symmetric, the row's largest
    magnitude at 127); the product runs in torch's `_weight_int8pack_mm` on bfloat16
    activations, which reads a quarter of float32's bytes, or with the ``fbgemm`` kernel in
    fbgemm's 8-bit by 8-bit product, its weights packed for it at the first product.
    """

    def __init__(
        self,
        weight: Any,
        bias: Any | None,
        kernels: Kernels,
        int8: bool = False,
        gelu: bool = False,
        bfloat16: bool = False,
        pack: bool = False,
        widen: bool = False,
    ) -> None:
        self.out_features, self.in_features = (int(n) for n in weight.shape)
        self.bias = None if bias is None else bias.contiguous()
        self.gelu = gelu
        self.int8 = int8
        self.bfloat16 = bfloat16 and not int8
        self.widen = self.bfloat16 and widen
        self._op = onednn_linear() if kernels.linear == "onednn" and not int8 else None
        self.scales: Any = None
        self._dynamic: DynamicProduct | None = None
        self._kernels = kernels
        if int8:
            self.weight, self.scales = _quantized(weight)
        elif self.bfloat16:
            import torch

            self.weight = weight.to(torch.bfloat16).contiguous()
            if not self.widen:
                self.bias = None if bias is None else bias.to(torch.bfloat16).contiguous()
                if self._op is not None and onednn_bfloat16():
                    self.weight = onednn_reorder()(self.weight, BFLOAT16_ROWS)
                else:
                    self._op = None  # torch's own bfloat16 product, where oneDNN has none
        elif pack and self._op is not None:
            self.weight = onednn_reorder()(weight.contiguous(), PACK_ROWS)
        else:
            self.weight = weight.contiguous()

    @classmethod
    def quantized(cls, weight: Any, scales: Any, kernels: Kernels) -> Linear:
        """A linear layer over int8 weights [out, in] and their bfloat16 row scales, quantized
        earlier (see `save` in engine.store)."""
        layer = cls.__new__(cls)
        layer.out_features, layer.in_features = (int(n) for n in weight.shape)
        layer.bias, layer.gelu, layer.int8, layer.bfloat16 = None, False, True, False
        layer.widen, layer._op = False, None
        layer.weight, layer.scales = weight, scales
        layer._dynamic, layer._kernels = None, kernels
        return layer

    @property
    def nbytes(self) -> int:
        """Bytes of weights (and scales) one product reads."""
        scales = 0 if self.scales is None else self.scales.numel() * 2
        return int(self.weight.numel() * self.weight.element_size()) + scales

    @property
    def dtype(self) -> Any:
        """The dtype its products take and give: bfloat16 for bfloat16 weights (unless
        widened), else float32."""
        import torch

        return torch.bfloat16 if self.bfloat16 and not self.widen else torch.float32

    @property
    def packed(self) -> bool:
        """Whether the weight is held in oneDNN's blocked layout."""
        return bool(self.weight.is_mkldnn)

    def dequantized(self) -> Any:
        """The weight as float32 [out, in] (int8 weights times their scales)."""
        if self.packed:
            return self.weight.to_dense().float()
        if self.scales is None:
            return self.weight.float()
        return self.weight.float() * self.scales.float()[:, None]

    def rows(self, ids: Any) -> Any:
        """Rows `ids` of the weight as float32 (a lookup table's entries: embeddings; a packed
        weight is unpacked for it, so a table is best left unpacked)."""
        if self.packed:
            return self.weight.to_dense()[ids].float()
        if self.scales is None:
            return self.weight[ids].float()
        return self.weight[ids].float() * self.scales[ids].float()[:, None]

    def __call__(self, x: Any, prompt: bool = False) -> Any:
        """The product; `prompt`: x holds a prompt's rows, which an int8 layer multiplies as
        the tuning's `int8_prompts` says."""
        import torch.nn.functional as F

        if self.int8:
            # The text model's rows are 2-D already: no reshapes around its products (a
            # one-row int8 decode step 6% faster: EPYC, 2 threads, the 256M decoder over a
            # 700-token sequence, alternated with the reshaping form in one process).
            flat = x.dim() == 2
            out = self._int8_product(x if flat else x.reshape(-1, self.in_features), prompt)
            if not flat:
                out = out.reshape(*x.shape[:-1], self.out_features)
            if self.bias is not None:
                out = out + self.bias
            return F.gelu(out, approximate="tanh") if self.gelu else out
        if self.bfloat16 and not self.widen:
            return self._bfloat16_product(x)
        # Widened, 16-bit weights take float32 arithmetic for half the memory.
        return self._linear(x, self.weight.float() if self.widen else self.weight)

    def _bfloat16_product(self, x: Any) -> Any:
        """`x W^T + b` in bfloat16 (float32 sums), in x's dtype."""
        import torch

        return self._linear(x.to(torch.bfloat16), self.weight).to(x.dtype)

    def _linear(self, x: Any, weight: Any) -> Any:
        """`x weight^T + b` (then the GELU) in oneDNN's operator where it runs, else torch's."""
        import torch.nn.functional as F

        if self._op is not None:
            kind, algorithm = ("gelu", "tanh") if self.gelu else ("none", "")
            return self._op(x, weight, self.bias, kind, [], algorithm)
        out = F.linear(x, weight, self.bias)
        return F.gelu(out, approximate="tanh") if self.gelu else out

    def _int8_product(self, rows: Any, prompt: bool) -> Any:
        """`rows W^T` for rows [n, in] in the tuning's 8-bit kernel (fbgemm's weights are
        packed at its first product), or a prompt's rows in bfloat16."""
        import torch

        if prompt and self._kernels.int8_prompts == "bfloat16":
            return self._widened_product(rows)
        if self._kernels.int8 == "fbgemm":
            if self._dynamic is None:
                self._dynamic = DynamicProduct(self.weight, self.scales, self._kernels.reduce_range)
            return self._dynamic(rows)
        return torch._weight_int8pack_mm(rows.to(torch.bfloat16), self.weight, self.scales).float()

    def _widened_product(self, rows: Any) -> Any:
        """`rows W^T` in bfloat16 against the 8-bit weights widened to bfloat16 (exactly:
        integers up to 127 fit its significand), float32 sums, each column then scaled."""
        import torch
        import torch.nn.functional as F

        out = F.linear(rows.to(torch.bfloat16), self.weight.to(torch.bfloat16))
        return out.float().mul_(self.scales.float())


def _quantized(weight: Any, rows: int = 4096) -> tuple[Any, Any]:
    """int8 weights [out, in] and their bfloat16 scale per output row (the kernel takes
    bfloat16 scales: each row is quantized against the scale it will use, rounded up so that
    its largest weight still fits in 127 steps); a few rows at a time, so the float
    temporaries stay small."""
    import torch

    out, width = (int(n) for n in weight.shape)
    quantized = torch.empty(out, width, dtype=torch.int8)
    scales = torch.empty(out, dtype=torch.bfloat16)
    for first in range(0, out, rows):
        part = weight[first : first + rows]
        largest = part.abs().amax(dim=1).clamp(min=1e-12)
        scale = (largest / INT8_MAX).to(torch.bfloat16).float()
        scale = torch.where(scale * INT8_MAX < largest, scale * (1 + 2**-7), scale)
        scale = scale.to(torch.bfloat16).float()
        quantized[first : first + rows] = torch.round(part / scale[:, None]).clamp(
            -INT8_MAX, INT8_MAX
        )
        scales[first : first + rows] = scale
    return quantized, scales
