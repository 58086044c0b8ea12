"""How the engine runs on this CPU: threads and kernels, given as an argument and recorded
with every result; nothing is read from the environment."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any, Literal

LinearKernel = Literal["auto", "onednn", "torch"]
LINEAR_KERNELS: tuple[str, ...] = ("auto", "onednn", "torch")
Int8Kernel = Literal["auto", "fbgemm", "torch"]
INT8_KERNELS: tuple[str, ...] = ("auto", "fbgemm", "torch")
VisionArithmetic = Literal["auto", "bfloat16", "float32"]
VISION_ARITHMETICS: tuple[str, ...] = ("auto", "bfloat16", "float32")
PromptArithmetic = Literal["auto", "bfloat16", "int8"]
PROMPT_ARITHMETICS: tuple[str, ...] = ("auto", "bfloat16", "int8")


@dataclass(frozen=True)
class EngineTuning:
    """The engine's tuning.

    `threads`: torch's threads for the products and attention (None: torch's own choice, one
    per core). `linear`: the float32 product's kernel: ``onednn`` (torch's oneDNN linear
    operator, with a layer's GELU fused into it, the text model's weights reordered at load
    into oneDNN's layout), ``torch`` (torch's own linear), or
    ``auto``: oneDNN where this torch has it and it agrees with torch's own linear.
    `int8`: the 8-bit product's kernel: ``torch`` (torch's weight-only `_weight_int8pack_mm`
    on bfloat16 activations; ``auto`` picks it), or ``fbgemm`` (fbgemm's dynamic linear:
    each row's activations quantized to 8 bits at every product, 8-bit by 8-bit sums; see
    engine.dynamic). Once its weights are packed, fbgemm prefills a 669-token prompt 2.2
    times as fast (0.61 s against 1.35 s); packing them takes about 0.6 s at the first
    product and holds 0.26 GB more, and its decode is no faster (EPYC Zen 4, 2 threads, the
    256M architecture, three prompts in a fresh process per kernel, alternated).
    `int8_vision`: the arithmetic of the int8 engine's vision tower, whose layers keep their
    weights in bfloat16 (the float32 engine's tower is float32 throughout): ``bfloat16``
    (oneDNN's bfloat16 products, float32 sums: a frame of the 256M tower in 0.72 s against
    1.14 s in float32, features within 0.6% of float32's, on EPYC Zen 4 with AVX512-BF16, 2
    threads), ``float32`` (each weight widened for its product), or ``auto``: bfloat16 where
    the CPU multiplies bfloat16 itself (AVX512-BF16 or AMX) and oneDNN runs it, else float32
    (elsewhere bfloat16 products are emulated, slower than float32's).
    `int8_prompts`: how the int8 engine multiplies a prompt's rows (decode steps' rows always
    take the 8-bit kernel): ``int8`` (the 8-bit kernel), ``bfloat16`` (against the 8-bit
    weights widened to bfloat16 for each product, exactly, in oneDNN's bfloat16 products
    with float32 sums, scaled after: a 669-token prefill of the 256M architecture in
    0.99-1.07 s against 1.56-1.61 s through torch's 8-bit kernel, EPYC Zen 4 with
    AVX512-BF16, 2 threads, alternated in one process), or ``auto``: bfloat16 with torch's
    kernel where the CPU multiplies bfloat16 itself, else int8 (fbgemm's prompts are fast
    already).
    `prefill_rows`: a prompt is prefilled this many tokens at a time. 256 rows take less
    memory than a whole 669-token prompt at once (its activations) and no more time: a
    669-token prefill 0.51 s against 0.54 s in float32, 0.64 s against 0.69 s in int8
    (EPYC Zen 4, 2 threads; medians of 3).
    """

    threads: int | None = None
    linear: LinearKernel = "auto"
    int8: Int8Kernel = "auto"
    prefill_rows: int = 256
    int8_vision: VisionArithmetic = "auto"
    int8_prompts: PromptArithmetic = "auto"

    def resolved(self) -> Kernels:
        """The kernels this tuning runs on this machine."""
        linear = self.linear
        if linear == "auto":
            linear = "onednn" if onednn_linear() is not None else "torch"
        elif linear == "onednn" and onednn_linear() is None:
            raise ValueError("this torch has no usable oneDNN linear operator")
        if self.prefill_rows < 1:
            raise ValueError("prefill_rows must be at least 1")
        kernel, reduce_range = self._int8()
        return Kernels(
            linear,
            self.threads,
            self.prefill_rows,
            kernel,
            reduce_range,
            self._vision(),
            self._prompts(kernel),
        )

    def _prompts(self, kernel: str) -> str:
        """How the int8 engine multiplies prompt rows."""
        if _checked("int8_prompts", self.int8_prompts, PROMPT_ARITHMETICS) == "auto":
            return "bfloat16" if kernel == "torch" and native_bfloat16() else "int8"
        return self.int8_prompts

    def _vision(self) -> str:
        """The int8 tower's arithmetic."""
        if _checked("int8_vision", self.int8_vision, VISION_ARITHMETICS) == "auto":
            return "bfloat16" if native_bfloat16() else "float32"
        return self.int8_vision

    def _int8(self) -> tuple[str, bool]:
        """The 8-bit kernel and whether its inputs are kept to 7 bits."""
        from .dynamic import available, vnni

        if self.int8 in ("auto", "torch"):
            return "torch", False
        if not available():
            raise ValueError("this torch has no usable fbgemm dynamic linear")
        return "fbgemm", not vnni()


def _checked(name: str, value: str, choices: tuple[str, ...]) -> str:
    """`value`, when it is one of `choices`; else a ValueError naming them."""
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(choices)}")
    return value


@dataclass(frozen=True)
class Kernels:
    """The kernels chosen, as results record them."""

    linear: str
    threads: int | None
    prefill_rows: int = 256
    int8: str = "torch"
    reduce_range: bool = False
    int8_vision: str = "float32"
    int8_prompts: str = "int8"

    def record(self) -> dict[str, str]:
        """What the engine's results say about its kernels."""
        threads = "default" if self.threads is None else str(self.threads)
        return {"linear": self.linear, "threads": threads, "prefill_rows": str(self.prefill_rows)}


@functools.cache
def native_bfloat16() -> bool:
    """Whether this CPU multiplies bfloat16 numbers itself (AVX512-BF16 or AMX) and this
    torch's oneDNN runs bfloat16 products."""
    from ..machine import cpu_flags

    return bool(cpu_flags() & {"avx512_bf16", "amx_bf16"}) and onednn_bfloat16()


@functools.cache
def onednn_bfloat16() -> bool:
    """Whether this torch's oneDNN runs bfloat16 products on this CPU (natively or, on
    AVX-512 without BF16, emulated); elsewhere torch's own bfloat16 product runs them."""
    import torch

    if not torch.backends.mkldnn.is_available():
        return False
    return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())


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
