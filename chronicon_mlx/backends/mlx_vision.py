"""Vision encoding spread over parallel MLX CPU streams.

MLX runs a CPU stream's element-wise kernels (softmax, GELU, layer norm) on one thread, so
on a multi-core CPU most of SigLIP's time is spent on one core while OpenBLAS's matrix
products use them all. Encoding groups of frames on one stream each, with OpenBLAS's
threads shared out between the streams, keeps every core busy through the whole tower.
"""

from __future__ import annotations

from typing import Any

from ..machine import usable_cores
from ..native import blas


def stream_count(asked: int | None = None) -> int:
    """Streams to encode frames on: `asked` (the tuning's), else one per usable core."""
    if asked is not None and asked >= 1:
        return asked
    return usable_cores()


def split(count: int, groups: int) -> list[tuple[int, int]]:
    """`count` items cut into at most `groups` contiguous ranges of near-equal size."""
    groups = max(1, min(groups, count))
    base, extra = divmod(count, groups)
    ranges: list[tuple[int, int]] = []
    start = 0
    for group in range(groups):
        end = start + base + (1 if group < extra else 0)
        ranges.append((start, end))
        start = end
    return ranges


class ParallelVision:
    """Stands in for an mlx-vlm SigLIP tower: the same call, frames split across streams.

    Returns ``(pooled_output,)``: SmolVLM's embedding step keeps only the first element.
    Any other attribute is the tower's own.
    """

    def __init__(self, tower: Any, streams: int) -> None:
        import mlx.core as mx

        self._mx = mx
        self.tower = tower
        self.streams = [mx.new_stream(mx.cpu) for _ in range(streams)]

    def __getattr__(self, name: str) -> Any:
        if name == "tower":  # not set yet: no tower to ask
            raise AttributeError(name)
        return getattr(self.tower, name)

    def __call__(
        self,
        x: Any,
        patch_attention_mask: Any = None,
        output_hidden_states: bool | None = None,
    ) -> tuple[Any]:
        mx = self._mx
        ranges = split(int(x.shape[0]), len(self.streams))
        if len(ranges) == 1:
            return (self.tower(x, patch_attention_mask, output_hidden_states)[0],)
        pooled = []
        for stream, (start, end) in zip(self.streams, ranges, strict=False):
            mask = None if patch_attention_mask is None else patch_attention_mask[start:end]
            with mx.stream(stream):
                pooled.append(self.tower(x[start:end], mask, False)[0])
        with blas.threads(usable_cores() // len(ranges)):
            mx.eval(pooled)
        return (mx.concatenate(pooled, axis=0),)


def install(model: Any, streams: int) -> bool:
    """Route `model`'s vision tower through `streams` CPU streams; False when pointless.

    The tower stays in the module tree (weights, dtype, quantization see it unchanged);
    only attribute lookup of ``model.vision_model`` finds the stand-in.
    """
    tower = model.get("vision_model") if isinstance(model, dict) else None
    if tower is None or streams < 2:
        return False
    object.__setattr__(model, "vision_model", ParallelVision(tower, streams))
    return True
