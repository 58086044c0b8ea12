"""One decode step of a Llama text model on the CPU, at the memory-bandwidth limit.

A step reads every weight once to produce one token. A batch-of-one product runs faster
over a weight laid out input-major ([in, out]) than over ``nn.Linear``'s [out, in], so each
projection's weight is stored once, input-major, the module keeping a transposed view of it
(for the prefill); the projections sharing an input are stored side by side, one product.
The products and attention run in torch, on torch's threads (one pool: a second library's
threads waiting beside them would compete for the same cores); the element-wise arithmetic
between them runs in numpy over the same memory, which costs less per call on vectors this
small. The layer's arithmetic runs in the order the transformers layer does.
"""

from __future__ import annotations

import ctypes
import functools
import mmap
import sys
from dataclasses import dataclass
from typing import Any

import numpy as np

_MADV_DONTNEED = 4
ROOM = 256  # tokens of keys and values reserved at a time


@dataclass
class _Layer:
    norm_in: Any
    qkv: Any
    o: Any
    norm_post: Any
    gate_up: Any
    down: Any


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


def _input_major(*linears: Any) -> Any:
    """Re-store the weights of `linears` (same input) side by side, input-major, each
    module keeping a transposed view of its columns; return them as one tensor
    [in, sum of outs]."""
    import torch

    stored = torch.cat([linear.weight.detach().t() for linear in linears], dim=1).contiguous()
    start = 0
    for linear in linears:
        end = start + linear.weight.shape[0]
        old = linear.weight.detach()
        linear.weight = torch.nn.Parameter(stored[:, start:end].t(), requires_grad=False)
        _release(old)
        start = end
    return stored


def _release(tensor: Any) -> None:
    """Give the pages of a weight that is no longer used back to the system now (Linux).

    The checkpoint's tensors are views into one memory map of its file, which stays mapped
    while any weight (the vision tower's) still uses it; without this, the pages read while
    copying would stay resident beside their copy. Only pages wholly inside the tensor are
    touched, and the tensor is dropped right after.
    """
    if not sys.platform.startswith("linux"):
        return
    page = mmap.PAGESIZE
    begin = tensor.data_ptr()
    first = -(-begin // page) * page
    last = (begin + tensor.numel() * tensor.element_size()) // page * page
    if last > first:
        _libc().madvise(ctypes.c_void_p(first), ctypes.c_size_t(last - first), _MADV_DONTNEED)


@functools.cache
def _libc() -> Any:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    return libc


class DecodeStep:
    """Logits of the next token, given the last one, appending to a transformers cache."""

    def __init__(self, model: Any) -> None:
        import torch

        text = model.model.text_model
        config = model.config.get_text_config()
        self.heads = int(config.num_attention_heads)
        self.kv_heads = int(config.num_key_value_heads)
        self.head_dim = int(getattr(config, "head_dim", 0) or config.hidden_size // self.heads)
        self.scaling = self.head_dim**-0.5
        self.eps32 = np.float32(config.rms_norm_eps)
        self.final_norm = text.norm.weight.detach().numpy()
        self.rotary = text.rotary_emb
        self.layers = []
        for layer in text.layers:
            attn, mlp = layer.self_attn, layer.mlp
            self.layers.append(
                _Layer(
                    norm_in=layer.input_layernorm.weight.detach().numpy(),
                    qkv=_input_major(attn.q_proj, attn.k_proj, attn.v_proj),
                    o=_input_major(attn.o_proj),
                    norm_post=layer.post_attention_layernorm.weight.detach().numpy(),
                    gate_up=_input_major(mlp.gate_proj, mlp.up_proj),
                    down=_input_major(mlp.down_proj),
                )
            )
        self.intermediate = int(config.intermediate_size)
        embed = text.get_input_embeddings()
        tied = model.lm_head.weight is embed.weight
        self.head = _input_major(model.lm_head)
        if tied:
            embed.weight = model.lm_head.weight
        self.embed = embed.weight.detach()
        self._torch = torch
        self._attention = torch.nn.functional.scaled_dot_product_attention
        self._room: dict[int, tuple[Any, Any, int, Any, Any]] = {}

    def _norm(self, x: Any, weight: Any) -> Any:
        row = x[0]
        variance = np.float32(np.dot(row, row)) / np.float32(row.size)
        return weight * (x * (np.float32(1.0) / np.sqrt(variance + self.eps32)))

    def _rope(self, x: Any, cos: Any, sin: Any) -> Any:
        half = self.head_dim // 2
        return x * cos + np.concatenate((-x[..., half:], x[..., :half]), axis=-1) * sin

    def _product(self, x: Any, weight: Any) -> Any:
        """`x` [1, in] (numpy) times an input-major weight [in, out]: numpy [1, out]."""
        return (self._torch.from_numpy(x) @ weight).numpy()

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
        cos, sin = self.rotary(self.embed[:1], torch.tensor([[position]]))
        cos, sin = cos.numpy()[0], sin.numpy()[0]
        x = self.embed[token].numpy()[None]
        q_size, kv_size = self.heads * self.head_dim, self.kv_heads * self.head_dim
        heads = self.heads + self.kv_heads
        for number, layer in enumerate(self.layers):
            qkv = self._product(self._norm(x, layer.norm_in), layer.qkv)[0]
            qk = self._rope(qkv[: q_size + kv_size].reshape(heads, 1, self.head_dim), cos, sin)
            keys, values = self._append(
                cache.layers[number], qk[self.heads :], qkv[q_size + kv_size :], position
            )
            x = x + self._product(self._attend(qk[: self.heads], keys, values), layer.o)
            gate_up = self._product(self._norm(x, layer.norm_post), layer.gate_up)
            gate = gate_up[:, : self.intermediate]
            gate = gate / (1.0 + np.exp(-gate))
            x = x + self._product(gate * gate_up[:, self.intermediate :], layer.down)
        return torch.from_numpy(self._product(self._norm(x, self.final_norm), self.head))

    def _append(self, layer: Any, k: Any, v: Any, position: int) -> tuple[Any, Any]:
        """Write one token's key and value at `position` of a cache layer, whose keys and
        values become views of a buffer with room for ROOM more tokens."""
        room = self._room.get(id(layer))
        if room is None or room[0].shape[2] <= position or layer.keys.data_ptr() != room[2]:
            size = position + ROOM
            keys = layer.keys.new_empty((1, self.kv_heads, size, self.head_dim))
            values = layer.values.new_empty((1, self.kv_heads, size, self.head_dim))
            keys[:, :, :position] = layer.keys
            values[:, :, :position] = layer.values
            room = (keys, values, keys.data_ptr(), keys.numpy()[0], values.numpy()[0])
            self._room[id(layer)] = room
        keys, values, _, keys_np, values_np = room
        keys_np[:, position] = k[:, 0]
        values_np[:, position] = v.reshape(self.kv_heads, self.head_dim)
        layer.keys, layer.values = keys[:, :, : position + 1], values[:, :, : position + 1]
        return layer.keys, layer.values

    def finish(self, cache: Any) -> None:
        """Give the cache's layers compact keys and values of their own again."""
        for layer in cache.layers:
            if id(layer) in self._room:
                del self._room[id(layer)]
                layer.keys, layer.values = layer.keys.contiguous(), layer.values.contiguous()
