"""A linear layer as the engine stores and runs it: float32 weights through oneDNN or torch,
or 8-bit weights (one scale per output channel) through torch's int8 weight-only kernel."""

from __future__ import annotations

from typing import Any

from .tuning import Kernels, onednn_linear

INT8_MAX = 127


class Linear:
    """`y = x W^T + b` (then a tanh GELU when `gelu`), for x of any leading shape.

    float32: W is kept as [out, in] and runs through the tuning's kernel. int8: W becomes
    int8 [out, in] with a float scale per output row (symmetric, the row's largest
    magnitude at 127); the product runs in torch's `_weight_int8pack_mm` on bfloat16
    activations, which reads a quarter of float32's bytes.
    """

    def __init__(
        self,
        weight: Any,
        bias: Any | None,
        kernels: Kernels,
        int8: bool = False,
        gelu: bool = False,
    ) -> None:
        import torch

        self.out_features, self.in_features = (int(n) for n in weight.shape)
        self.bias = None if bias is None else bias.contiguous()
        self.gelu = gelu
        self.int8 = int8
        self._op = onednn_linear() if kernels.linear == "onednn" and not int8 else None
        if int8:
            # The kernel takes bfloat16 scales: quantize against the scale it will use,
            # rounded up so that the row's largest weight still fits in 127 steps.
            largest = weight.abs().amax(dim=1).clamp(min=1e-12)
            scales = (largest / INT8_MAX).to(torch.bfloat16)
            scales = torch.where(
                scales.float() * INT8_MAX < largest, scales.float() * (1 + 2**-7), scales.float()
            ).to(torch.bfloat16)
            quantized = torch.round(weight / scales.float()[:, None]).clamp(-INT8_MAX, INT8_MAX)
            self.weight = quantized.to(torch.int8).contiguous()
            self.scales = scales.contiguous()
        else:
            self.weight = weight.contiguous()
            self.scales = None

    @property
    def nbytes(self) -> int:
        """Bytes of weights (and scales) one product reads."""
        scales = 0 if self.scales is None else self.scales.numel() * 2
        return int(self.weight.numel() * self.weight.element_size()) + scales

    def dequantized(self) -> Any:
        """The weight as float32 [out, in] (int8 weights times their scales)."""
        if self.scales is None:
            return self.weight
        return self.weight.float() * self.scales.float()[:, None]

    def __call__(self, x: Any) -> Any:
        import torch
        import torch.nn.functional as F

        if self.int8:
            rows = x.reshape(-1, self.in_features).to(torch.bfloat16)
            out = torch._weight_int8pack_mm(rows, self.weight, self.scales).float()
            out = out.reshape(*x.shape[:-1], self.out_features)
            if self.bias is not None:
                out = out + self.bias
            return F.gelu(out, approximate="tanh") if self.gelu else out
        if self._op is not None:
            kind, algorithm = ("gelu", "tanh") if self.gelu else ("none", "")
            return self._op(x, self.weight, self.bias, kind, [], algorithm)
        out = F.linear(x, self.weight, self.bias)
        return F.gelu(out, approximate="tanh") if self.gelu else out
