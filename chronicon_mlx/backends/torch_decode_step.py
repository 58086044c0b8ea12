"""One decode step of a Llama text model on the CPU, at the memory-bandwidth limit, and the
prefill of the few tokens after a cached prefix, over the same weights.

A step reads every weight once to produce one token; the weights are laid out for it by
`torch_text_weights`. The products and attention run in torch, on torch's threads (one
pool: a second library's threads waiting beside them would compete for the same cores); the
element-wise arithmetic between them runs in numpy over the same memory, which costs less
per call on vectors this small. The layer's arithmetic runs in the order the transformers
layer does.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from . import torch_text_weights
from .torch_text_weights import TextWeights

ROOM = 256  # tokens of keys and values reserved at a time
# A one-row product runs as SPLIT products over as many parts of its input, one per thread
# (a single one runs on one core here); fixed, so the sums, and so the answers, are the
# same at any thread count.
SPLIT = 2


def supported(model: Any, device: str, dtype: str) -> bool:
    """True for a float32 Llama text model (no biases, SiLU, default RoPE) on the CPU."""
    if device != "cpu" or dtype != "float32":
        return False
    config = model.config.get_text_config()
    rope = getattr(config, "rope_parameters", None) or getattr(config, "rope_scaling", None) or {}
    return (
        getattr(config, "model_type", "") == "llama"
        and not getattr(config, "attention_bias", False)
        and not getattr(config, "mlp_bias", False)
        and getattr(config, "hidden_act", "") == "silu"
        and rope.get("rope_type", "default") == "default"
        and all(
            getattr(layer.self_attn, name).bias is None
            for layer in model.model.text_model.layers
            for name in ("q_proj", "k_proj", "v_proj", "o_proj")
        )
    )


class _Layer:
    """One layer's keys and values, as transformers' cache layers hold them."""

    def __init__(self) -> None:
        self.keys: Any = None
        self.values: Any = None


class StepCache:
    """A KV cache of the step's own, for answers computed without transformers: per layer
    keys and values [1, kv_heads, tokens, head_dim], read the way the step and the backend
    read transformers' DynamicCache."""

    def __init__(self, layers: int) -> None:
        self.layers = [_Layer() for _ in range(layers)]

    def get_seq_length(self) -> int:
        """How many tokens the cache holds."""
        keys = self.layers[0].keys
        return 0 if keys is None else int(keys.shape[2])

    def update(self, keys: Any, values: Any, layer: int) -> None:
        """Set a layer's keys and values (an empty cache's, as it is built)."""
        self.layers[layer].keys, self.layers[layer].values = keys, values

    def crop(self, max_length: int) -> None:
        """Keep the first `max_length` tokens (a negative count: drop that many)."""
        keep = max_length if max_length >= 0 else self.get_seq_length() + max_length
        for layer in self.layers:
            layer.keys, layer.values = layer.keys[:, :, :keep], layer.values[:, :, :keep]


class DecodeStep:
    """Logits of the next token, given the last one (or a few), appending to a cache
    (transformers' or the step's own)."""

    def __init__(self, weights: TextWeights) -> None:
        import torch

        self.heads, self.kv_heads = weights.heads, weights.kv_heads
        self.head_dim = weights.head_dim
        self.scaling = self.head_dim**-0.5
        self.eps32 = np.float32(weights.eps)
        self.inv_freq = weights.inv_freq
        self.layers = weights.layers
        self.final_norm = weights.final_norm
        self.intermediate = weights.intermediate
        self.head = weights.head
        self.embed = weights.embed
        self._torch = torch
        self._attention = torch.nn.functional.scaled_dot_product_attention
        self._room: dict[int, tuple[Any, Any, int, Any, Any]] = {}

    @classmethod
    def from_model(cls, model: Any) -> DecodeStep:
        """A step over a loaded transformers model's weights (re-stored in place)."""
        return cls(torch_text_weights.from_model(model))

    def _rotation(self, first: int, count: int) -> tuple[Any, Any]:
        """RoPE's cos and sin [count, head_dim] from position `first`, computed as the
        transformers model computes them."""
        torch = self._torch
        positions = torch.arange(first, first + count)[:, None].float()
        freqs = positions * self.inv_freq
        angles = torch.cat((freqs, freqs), dim=-1)
        return angles.cos().numpy(), angles.sin().numpy()

    def _norm(self, x: Any, weight: Any) -> Any:
        row = x[0]
        variance = np.float32(np.dot(row, row)) / np.float32(row.size)
        return weight * (x * (np.float32(1.0) / np.sqrt(variance + self.eps32)))

    def _norm_rows(self, x: Any, weight: Any) -> Any:
        variance = np.einsum("ij,ij->i", x, x)[:, None] / np.float32(x.shape[1])
        return weight * (x * (np.float32(1.0) / np.sqrt(variance + self.eps32)))

    def _rope(self, x: Any, cos: Any, sin: Any) -> Any:
        half = self.head_dim // 2
        return x * cos + np.concatenate((-x[..., half:], x[..., :half]), axis=-1) * sin

    def _product(self, x: Any, weight: Any) -> Any:
        """`x` [rows, in] (numpy) times an input-major weight [in, out]: numpy [rows, out].
        One row: the sum of SPLIT products over consecutive parts of the input."""
        rows, size = x.shape
        if rows != 1 or size % SPLIT:
            return (self._torch.from_numpy(x) @ weight).numpy()
        part = size // SPLIT
        x_parts = self._torch.from_numpy(x).view(SPLIT, 1, part)
        sums = self._torch.bmm(x_parts, weight.view(SPLIT, part, weight.shape[1]))
        return sums.sum(0).numpy()

    def _attend(self, q: Any, keys: Any, values: Any) -> Any:
        """Softmax attention of one query per head over the cached keys and values: the
        query heads that share a key/value head are that head's queries (no mask: every
        one sees the whole cache), read in place from the cache's views."""
        group = self.heads // self.kv_heads
        query = self._torch.from_numpy(q).view(1, self.kv_heads, group, self.head_dim)
        out = self._attention(query, keys, values, scale=self.scaling)
        return out.numpy().reshape(1, self.heads * self.head_dim)

    def __call__(self, token: int, cache: Any) -> Any:
        """Logits [1, vocab] (float32) after `token`, its keys and values added to `cache`
        (in room reserved ahead, so that a token does not copy the whole cache)."""
        torch = self._torch
        position = int(cache.get_seq_length())
        cos, sin = self._rotation(position, 1)
        x = self.embed[token].numpy()[None]
        q_size, kv_size = self.heads * self.head_dim, self.kv_heads * self.head_dim
        heads = self.heads + self.kv_heads
        for number, layer in enumerate(self.layers):
            qkv = self._product(self._norm(x, layer.norm_in), layer.qkv)[0]
            qk = self._rope(qkv[: q_size + kv_size].reshape(heads, 1, self.head_dim), cos, sin)
            v = qkv[q_size + kv_size :].reshape(self.kv_heads, 1, self.head_dim)
            keys, values = self._append(cache.layers[number], qk[self.heads :], v, position)
            x = x + self._product(self._attend(qk[: self.heads], keys, values), layer.o)
            gate_up = self._product(self._norm(x, layer.norm_post), layer.gate_up)
            gate = gate_up[:, : self.intermediate]
            gate = gate / (1.0 + np.exp(-gate))
            x = x + self._product(gate * gate_up[:, self.intermediate :], layer.down)
        return torch.from_numpy(self._product(self._norm(x, self.final_norm), self.head))

    def prefill(self, tokens: list[int], cache: Any) -> Any:
        """Logits [1, vocab] after `tokens` (all at once), their keys and values added to
        `cache`: each token attends to the cache and to the tokens before it."""
        torch = self._torch
        position, count = int(cache.get_seq_length()), len(tokens)
        cos, sin = self._rotation(position, count)
        x = self.embed[torch.tensor(tokens)].numpy()
        mask = torch.ones(count, position + count, dtype=torch.bool).tril(position)
        q_size, kv_size = self.heads * self.head_dim, self.kv_heads * self.head_dim
        heads = self.heads + self.kv_heads
        for number, layer in enumerate(self.layers):
            qkv = self._product(self._norm_rows(x, layer.norm_in), layer.qkv)
            qk = qkv[:, : q_size + kv_size].reshape(count, heads, self.head_dim)
            qk = self._rope(qk.transpose(1, 0, 2), cos, sin)
            v = qkv[:, q_size + kv_size :].reshape(count, self.kv_heads, self.head_dim)
            keys, values = self._append(
                cache.layers[number], qk[self.heads :], v.transpose(1, 0, 2), position
            )
            query = torch.from_numpy(np.ascontiguousarray(qk[: self.heads]))[None]
            out = self._attention(
                query, keys, values, attn_mask=mask, scale=self.scaling, enable_gqa=True
            )
            attended = out[0].transpose(0, 1).reshape(count, q_size).numpy()
            x = x + self._product(attended, layer.o)
            gate_up = self._product(self._norm_rows(x, layer.norm_post), layer.gate_up)
            gate = gate_up[:, : self.intermediate]
            gate = gate / (1.0 + np.exp(-gate))
            x = x + self._product(gate * gate_up[:, self.intermediate :], layer.down)
        return torch.from_numpy(self._product(self._norm(x[-1:], self.final_norm), self.head))

    def _append(self, layer: Any, k: Any, v: Any, position: int) -> tuple[Any, Any]:
        """Write keys and values [kv_heads, count, head_dim] at `position` of a cache layer,
        whose keys and values become views of a buffer with room for ROOM more tokens."""
        count = k.shape[1]
        end = position + count
        room = self._room.get(id(layer))
        if room is None or room[0].shape[2] < end or _pointer(layer.keys) != room[2]:
            torch = self._torch
            size = end + ROOM
            keys = torch.empty((1, self.kv_heads, size, self.head_dim))
            values = torch.empty((1, self.kv_heads, size, self.head_dim))
            if position:
                keys[:, :, :position] = layer.keys
                values[:, :, :position] = layer.values
            room = (keys, values, keys.data_ptr(), keys.numpy()[0], values.numpy()[0])
            self._room[id(layer)] = room
        keys, values, _, keys_np, values_np = room
        keys_np[:, position:end] = k
        values_np[:, position:end] = v
        layer.keys, layer.values = keys[:, :, :end], values[:, :, :end]
        return layer.keys, layer.values

    def finish(self, cache: Any) -> None:
        """Give the cache's layers compact keys and values of their own again."""
        for layer in cache.layers:
            if id(layer) in self._room:
                del self._room[id(layer)]
                layer.keys, layer.values = layer.keys.contiguous(), layer.values.contiguous()


def _pointer(tensor: Any) -> int:
    return -1 if tensor is None else int(tensor.data_ptr())
