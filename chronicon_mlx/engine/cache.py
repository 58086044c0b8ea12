"""The engine's KV cache: each sequence's keys and values for every layer, allocated in pages
of PAGE tokens (a sequence grows a page at a time, never a token at a time), so that any
number of sequences of different lengths live side by side."""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

PAGE = 256


class SequenceCache:
    """One sequence's keys and values: [layers, 2, kv_heads, capacity, head_dim], the first
    `length` tokens of it written."""

    def __init__(self, layers: int, kv_heads: int, head_dim: int, pages: int = 1) -> None:
        import torch

        self.layers, self.kv_heads, self.head_dim = layers, kv_heads, head_dim
        self.length = 0
        self._data = torch.empty(layers, 2, kv_heads, pages * PAGE, head_dim)
        self.frozen = False  # a prefix held by reference: read and forked, never written
        self._shared = 0  # the tokens a frozen prefix holds of these pages

    @property
    def capacity(self) -> int:
        """Tokens it holds room for."""
        return int(self._data.shape[3])

    @property
    def pages(self) -> int:
        """Pages it holds."""
        return self.capacity // PAGE

    @property
    def nbytes(self) -> int:
        """Bytes of its pages."""
        return int(self._data.numel() * self._data.element_size())

    def reserve(self, count: int) -> None:
        """Make room for `count` more tokens (whole pages; what is written is kept)."""
        import torch

        self._writable()
        needed = self.length + count
        if needed <= self.capacity:
            return
        pages = -(-needed // PAGE)
        grown = torch.empty(self.layers, 2, self.kv_heads, pages * PAGE, self.head_dim)
        grown[:, :, :, : self.length] = self._data[:, :, :, : self.length]
        self._data = grown

    def write(self, layer: int, keys: Any, values: Any, at: int) -> tuple[Any, Any]:
        """Write keys and values [kv_heads, count, head_dim] at position `at` of a layer
        (room reserved first); return the layer's keys and values through them."""
        self._writable()
        end = at + int(keys.shape[1])
        self._data[layer, 0, :, at:end] = keys
        self._data[layer, 1, :, at:end] = values
        return self._data[layer, 0, :, :end], self._data[layer, 1, :, :end]

    def step_views(self, count: int) -> tuple[Sequence[Any], Sequence[Any]]:
        """For a forward appending `count` tokens (room reserved first), views made once for
        every layer: each layer's place for their keys and values [2, kv_heads, count,
        head_dim], and the keys and values attention reads through them [1, kv_heads,
        length + count, head_dim] (layer n's keys at 2n, its values at 2n + 1)."""
        self._writable()
        at, end = self.length, self.length + count
        places = self._data[:, :, :, at:end].unbind(0)
        through = self._data[:, :, None, :, :end].flatten(0, 1).unbind(0)
        return places, through

    def advance(self, count: int) -> None:
        """Count `count` tokens written to every layer."""
        self.length += count

    def crop(self, length: int) -> None:
        """Keep the first `length` tokens (not fewer than a prefix kept by reference holds)."""
        if length < self._shared:
            raise ValueError(f"{self._shared} tokens of this sequence are kept as a prefix")
        self.length = min(self.length, length)

    def _writable(self) -> None:
        if self.frozen:
            raise ValueError("a kept prefix is read-only: fork it to write")

    def prefix(self, length: int) -> SequenceCache:
        """Its first `length` tokens, kept for later sequences to fork: these pages
        themselves (read-only from then on, this sequence only appending after them) when
        they are no more than a copy's, else a copy."""
        keep = min(length, self.length)
        if self.pages > -(-(keep + 1) // PAGE):
            return self.fork(keep)
        kept = copy.copy(self)  # the same pages
        kept.length, kept.frozen, kept._shared = keep, True, 0
        self._shared = max(self._shared, keep)
        return kept

    def fork(self, length: int | None = None) -> SequenceCache:
        """A new sequence starting with this one's first `length` tokens (all by default),
        with a page of room to grow."""
        keep = self.length if length is None else min(length, self.length)
        other = SequenceCache(self.layers, self.kv_heads, self.head_dim, -(-(keep + 1) // PAGE))
        other._data[:, :, :, :keep] = self._data[:, :, :, :keep]
        other.length = keep
        return other

    def layer_arrays(self) -> list[tuple[Any, Any]]:
        """Each layer's keys and values [1, kv_heads, length, head_dim] (views)."""
        end = self.length
        return [
            (self._data[n, 0, None, :, :end], self._data[n, 1, None, :, :end])
            for n in range(self.layers)
        ]

    @classmethod
    def from_layers(cls, layers: list[tuple[Any, Any]]) -> SequenceCache:
        """A sequence holding each layer's keys and values [1, kv_heads, tokens, head_dim]."""
        _, kv_heads, tokens, head_dim = (int(n) for n in layers[0][0].shape)
        cache = cls(len(layers), kv_heads, head_dim, -(-(tokens + 1) // PAGE))
        for number, (keys, values) in enumerate(layers):
            cache.write(number, keys[0], values[0], 0)
        cache.length = tokens
        return cache
