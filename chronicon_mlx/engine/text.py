"""SmolVLM2's text model (Llama) on the CPU: one layer function for prefill and decode, over
the rows of any number of sequences at once, each at its own position with its own cache.
The products read every weight once for all rows; attention runs per sequence."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..model.shapes import TextShape
from .cache import SequenceCache
from .linear import Linear
from .weights import TextLayer, TextWeights

Rows = tuple[SequenceCache, int]
"""A sequence's cache and how many consecutive rows of the input are its new tokens."""
Span = tuple[int, int, bool]
"""Rows [start, end) of a forward's input that its products take in one call, and whether
they are a prompt's."""


@dataclass(eq=False)
class Chunk:
    """A slice of a prompt waiting to run: input rows [count, hidden] to append to a
    sequence, alone (`run`) or in one forward with other sequences' rows (`Engine.step`).
    Either way its result is its last row's hidden state [1, hidden]."""

    text: TextModel
    sequence: SequenceCache
    rows: Any

    @property
    def count(self) -> int:
        """How many rows (tokens) it appends."""
        return int(self.rows.shape[0])

    def run(self) -> Any:
        """Run it alone."""
        return self.text.forward(self.rows, [(self.sequence, self.count)])[-1:]


class TextModel:
    """The Llama text model over the engine's weights."""

    def __init__(self, weights: TextWeights, shape: TextShape, prompts_apart: bool = False) -> None:
        """`prompts_apart`: the products take each prompt chunk's rows in a call of their own,
        marked as a prompt's (int8 weights that multiply prompts in another arithmetic);
        else every row of a forward in one call."""
        import torch

        self.weights = weights
        self.shape = shape
        self.prompts_apart = prompts_apart
        dim = shape.head_dim
        steps = torch.arange(0, dim, 2, dtype=torch.int64).float() / dim
        self.inv_freq = 1.0 / (shape.rope_theta**steps)
        self.scaling = dim**-0.5
        # RoPE's cos and sin at every position, computed once as transformers computes them.
        positions = torch.arange(shape.max_positions).float()
        angles = torch.cat((positions[:, None] * self.inv_freq[None, :],) * 2, dim=-1)
        self._cos, self._sin = angles.cos()[:, None, :], angles.sin()[:, None, :]

    def new_cache(self, tokens: int = 0) -> SequenceCache:
        """An empty sequence with room for `tokens` tokens."""
        from .cache import PAGE

        s = self.shape
        return SequenceCache(s.layers, s.kv_heads, s.head_dim, max(1, -(-tokens // PAGE)))

    def embed(self, ids: Sequence[int]) -> Any:
        """Token embeddings [len(ids), hidden]."""
        import torch

        return self.weights.embed.rows(torch.tensor(list(ids), dtype=torch.long))

    def forward(self, x: Any, rows: Sequence[Rows]) -> Any:
        """Run input rows [R, hidden] through every layer: each sequence's rows (in `rows`
        order) are its next tokens, their keys and values appended to its cache; returns the
        last hidden states [R, hidden] (before the final norm)."""
        import torch

        positions = torch.cat(
            [torch.arange(cache.length, cache.length + count) for cache, count in rows]
        )
        if int(positions.max()) >= self.shape.max_positions:
            raise ValueError(f"past the model's {self.shape.max_positions} positions")
        rotation = (self._cos[positions], self._sin[positions])
        for cache, count in rows:
            cache.reserve(count)
        spans = _spans(rows) if self.prompts_apart else [(0, int(x.shape[0]), False)]
        with torch.inference_mode():
            groups = _groups(rows)
            for number, layer in enumerate(self.weights.layers):
                x = self._layer(number, layer, x, (groups, spans), rotation)
        for cache, count in rows:
            cache.advance(count)
        return x

    def logits(self, hidden: Any) -> Any:
        """Logits [rows, vocab] of hidden states [rows, hidden]."""
        import torch

        with torch.inference_mode():
            return self.weights.head(self._norm(hidden, self.weights.norm))

    def _norm(self, x: Any, weight: Any) -> Any:
        """RMS norm as transformers' LlamaRMSNorm computes it (the same values): torch's
        `rms_norm` takes 18x longer over a prompt's 680 rows (EPYC Zen 4, 2 threads, torch
        2.13), and no less for one row."""
        import torch

        scale = torch.mean(x * x, dim=-1, keepdim=True).add_(self.shape.rms_eps).rsqrt_()
        return (x * scale).mul_(weight)

    @staticmethod
    def _rope(x: Any, cos: Any, sin: Any) -> Any:
        import torch

        half = x.shape[-1] // 2
        rotated = torch.cat((x[..., half:].neg(), x[..., :half]), dim=-1)
        return torch.addcmul(x * cos, rotated, sin)

    def _layer(
        self,
        number: int,
        layer: TextLayer,
        x: Any,
        layout: tuple[Sequence[Sequence[Attending]], Sequence[Span]],
        rotation: tuple[Any, Any],
    ) -> Any:
        import torch
        import torch.nn.functional as F

        s = self.shape
        groups, spans = layout
        total = int(x.shape[0])
        qkv = _product(layer.qkv, self._norm(x, layer.norm_in), spans)
        qk = self._rope(
            qkv[:, : s.q_size + s.kv_size].view(total, s.heads + s.kv_heads, s.head_dim), *rotation
        )
        v = qkv[:, s.q_size + s.kv_size :].view(total, s.kv_heads, s.head_dim)
        kv = torch.cat((qk[:, s.heads :], v), dim=1)  # each row's keys and values, adjacent
        attended = [self._attend(number, group, qk, kv) for group in groups]
        x = x + _product(layer.o, attended[0] if len(attended) == 1 else torch.cat(attended), spans)
        gate, up = _product(layer.gate_up, self._norm(x, layer.norm_post), spans).split(s.ffn, -1)
        return x + _product(layer.down, F.silu(gate) * up, spans)

    def _attend(self, number: int, group: Sequence[Attending], qk: Any, kv: Any) -> Any:
        """A group's attention outputs [rows, q_size]: one chunk of a sequence's rows, or a
        run of sequences' single rows, whose keys and values are written in one call and
        whose queries are split in one."""
        import torch
        import torch.nn.functional as F

        s = self.shape
        start, count = group[0].start, group[0].count
        if count > 1:
            rows = kv[start : start + count].view(count, 2, s.kv_heads, s.head_dim)
            group[0].places[number].copy_(rows.permute(1, 2, 0, 3))
            queries = [qk[start : start + count, : s.heads].transpose(0, 1)[None]]
        else:
            count = len(group)
            rows = kv[start : start + count].view(count, 2, s.kv_heads, 1, s.head_dim)
            torch._foreach_copy_([a.places[number] for a in group], rows.unbind(0))
            queries = qk[start : start + count, : s.heads, None].unsqueeze(1).unbind(0)
        out = [
            F.scaled_dot_product_attention(
                query,
                a.through[2 * number],
                a.through[2 * number + 1],
                attn_mask=a.mask,
                scale=self.scaling,
                enable_gqa=True,
            )
            for query, a in zip(queries, group, strict=True)
        ]
        if len(out) > 1:
            return torch.cat(out).view(count, s.q_size)
        return out[0][0].transpose(0, 1).reshape(count, s.q_size)


@dataclass(eq=False)
class Attending:
    """A sequence's rows in one forward: where they start among its input rows, how many,
    the causal mask of several (None for one), and its cache's views for the forward (see
    `SequenceCache.step_views`)."""

    start: int
    count: int
    mask: Any
    places: Sequence[Any]
    through: Sequence[Any]


def _groups(rows: Sequence[Rows]) -> list[list[Attending]]:
    """The forward's rows as attention runs them: each chunk of several rows alone, and
    consecutive single rows (a decode step's sequences) together."""
    import torch

    groups: list[list[Attending]] = []
    start = 0
    for cache, count in rows:
        at = cache.length
        mask = None if count == 1 else torch.ones(count, at + count, dtype=torch.bool).tril(at)
        attending = Attending(start, count, mask, *cache.step_views(count))
        if count == 1 and groups and groups[-1][-1].count == 1:
            groups[-1].append(attending)
        else:
            groups.append([attending])
        start += count
    return groups


def _spans(rows: Sequence[Rows]) -> list[Span]:
    """The forward's rows as the products take them apart: each prompt chunk of several
    rows alone, and consecutive single rows (a decode step's sequences) together."""
    spans: list[Span] = []
    start = 0
    for _, count in rows:
        if count == 1 and spans and not spans[-1][2]:
            spans[-1] = (spans[-1][0], start + 1, False)
        else:
            spans.append((start, start + count, count > 1))
        start += count
    return spans


def _product(linear: Linear, x: Any, spans: Sequence[Span]) -> Any:
    """`linear` over rows x, a call per span."""
    import torch

    if len(spans) == 1:
        return linear(x, spans[0][2])
    return torch.cat([linear(x[start:end], prompt) for start, end, prompt in spans])
