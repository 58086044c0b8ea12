"""The weights of a Llama text model laid out for the CPU decode step, taken from a loaded
transformers model or read straight from a checkpoint's safetensors (without transformers:
an answer from a cached video prefix needs the text model alone).

A batch-of-one product runs faster over a weight laid out input-major ([in, out]) than over
``nn.Linear``'s [out, in], so each projection's weight is stored input-major, the projections
sharing an input side by side (q|k|v, gate|up), one product each.
"""

from __future__ import annotations

import ctypes
import functools
import json
import mmap
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_MADV_DONTNEED = 4
TEXT_PREFIX = "model.text_model."


@dataclass
class LayerWeights:
    """One decoder layer: RMS norm weights (numpy), input-major projections (torch)."""

    norm_in: Any
    qkv: Any
    o: Any
    norm_post: Any
    gate_up: Any
    down: Any


@dataclass
class TextWeights:
    """A float32 Llama text model's sizes and weights, as the decode step reads them."""

    heads: int
    kv_heads: int
    head_dim: int
    intermediate: int
    eps: float
    inv_freq: Any  # RoPE inverse frequencies, torch float32 [head_dim / 2]
    layers: list[LayerWeights]
    final_norm: Any
    head: Any  # the LM head, input-major [hidden, vocab]
    embed: Any  # token embeddings [vocab, hidden]


def text_config_supported(text: dict[str, Any]) -> bool:
    """True for a Llama text config (as config.json holds it) the step computes exactly: no
    biases, SiLU, default RoPE."""
    rope = text.get("rope_parameters") or text.get("rope_scaling") or {}
    return (
        text.get("model_type", "llama") == "llama"
        and not text.get("attention_bias", False)
        and not text.get("mlp_bias", False)
        and text.get("hidden_act", "silu") == "silu"
        and rope.get("rope_type", rope.get("type", "default")) == "default"
    )


def default_inv_freq(text: dict[str, Any], head_dim: int) -> Any:
    """RoPE's inverse frequencies as transformers computes them for the default type."""
    import torch

    rope = text.get("rope_parameters") or {}
    base = float(rope.get("rope_theta", text.get("rope_theta", 10000.0)))
    return 1.0 / (base ** (torch.arange(0, head_dim, 2, dtype=torch.float) / head_dim))


def from_model(model: Any) -> TextWeights:
    """The weights of a loaded transformers model, re-stored input-major in place: each
    module keeps a transposed view of its part, so the model computes as before."""
    text = model.model.text_model
    config = model.config.get_text_config()
    heads = int(config.num_attention_heads)
    layers = []
    for layer in text.layers:
        attn, mlp = layer.self_attn, layer.mlp
        layers.append(
            LayerWeights(
                norm_in=layer.input_layernorm.weight.detach().numpy(),
                qkv=_input_major(attn.q_proj, attn.k_proj, attn.v_proj),
                o=_input_major(attn.o_proj),
                norm_post=layer.post_attention_layernorm.weight.detach().numpy(),
                gate_up=_input_major(mlp.gate_proj, mlp.up_proj),
                down=_input_major(mlp.down_proj),
            )
        )
    embed = text.get_input_embeddings()
    tied = model.lm_head.weight is embed.weight
    head = _input_major(model.lm_head)
    if tied:
        embed.weight = model.lm_head.weight
    return TextWeights(
        heads=heads,
        kv_heads=int(config.num_key_value_heads),
        head_dim=int(getattr(config, "head_dim", 0) or config.hidden_size // heads),
        intermediate=int(config.intermediate_size),
        eps=float(config.rms_norm_eps),
        inv_freq=text.rotary_emb.inv_freq.detach().float(),
        layers=layers,
        final_norm=text.norm.weight.detach().numpy(),
        head=head,
        embed=embed.weight.detach(),
    )


def from_checkpoint(folder: Path, config: dict[str, Any]) -> TextWeights:
    """The text model's weights read from `folder`'s safetensors as float32 (cast as
    transformers casts them); KeyError or ValueError when the checkpoint does not hold the
    text model under transformers' names and shapes."""
    text = config.get("text_config", {})
    if not text_config_supported(text):
        raise ValueError("not a Llama text model the decode step computes")
    hidden = int(text["hidden_size"])
    heads = int(text["num_attention_heads"])
    kv_heads = int(text.get("num_key_value_heads", heads))
    head_dim = int(text.get("head_dim") or hidden // heads)
    intermediate = int(text["intermediate_size"])
    reader = _Reader(folder)
    sizes = (hidden, heads * head_dim, kv_heads * head_dim, intermediate)
    layers = [reader.layer(n, *sizes) for n in range(int(text["num_hidden_layers"]))]
    vocab = int(text.get("vocab_size", 0)) or int(config["vocab_size"])
    embed = reader.read(TEXT_PREFIX + "embed_tokens.weight", (vocab, hidden))
    tied = bool(config.get("tie_word_embeddings", text.get("tie_word_embeddings", False)))
    if "lm_head.weight" in reader.files or not tied:
        head = reader.stacked([("lm_head.weight", vocab)], hidden)
    else:  # one copy, as the loaded model shares it between the embeddings and the head
        head = embed.t().contiguous()
        embed = head.t()
    return TextWeights(
        heads=heads,
        kv_heads=kv_heads,
        head_dim=head_dim,
        intermediate=intermediate,
        eps=float(text.get("rms_norm_eps", 1e-6)),
        inv_freq=default_inv_freq(text, head_dim),
        layers=layers,
        final_norm=reader.read(TEXT_PREFIX + "norm.weight", (hidden,)).numpy(),
        head=head,
        embed=embed,
    )


class _Reader:
    """Tensors of a checkpoint's safetensors by name, as float32, checked for shape."""

    def __init__(self, folder: Path) -> None:
        from safetensors import safe_open

        self.files = _weight_files(folder)
        self._handles: dict[str, Any] = {
            name: safe_open(str(folder / name), framework="pt") for name in set(self.files.values())
        }

    def read(self, name: str, shape: tuple[int, ...]) -> Any:
        import torch

        tensor = self._handles[self.files[name]].get_tensor(name).to(torch.float32)
        if tuple(tensor.shape) != shape:
            raise ValueError(f"{name} is {tuple(tensor.shape)}, not {shape}")
        return tensor

    def stacked(self, names: list[tuple[str, int]], width: int) -> Any:
        """The [out, width] weights named, input-major side by side: [width, sum of outs]."""
        import torch

        parts = [self.read(name, (out, width)) for name, out in names]
        return torch.cat([part.t() for part in parts], dim=1).contiguous()

    def layer(self, n: int, hidden: int, q: int, kv: int, intermediate: int) -> LayerWeights:
        """Decoder layer `n`."""
        at = f"{TEXT_PREFIX}layers.{n}."
        attn, mlp = at + "self_attn.", at + "mlp."
        qkv = [(attn + f"{p}_proj.weight", size) for p, size in (("q", q), ("k", kv), ("v", kv))]
        gate_up = [(mlp + "gate_proj.weight", intermediate), (mlp + "up_proj.weight", intermediate)]
        return LayerWeights(
            norm_in=self.read(at + "input_layernorm.weight", (hidden,)).numpy(),
            qkv=self.stacked(qkv, hidden),
            o=self.stacked([(attn + "o_proj.weight", hidden)], q),
            norm_post=self.read(at + "post_attention_layernorm.weight", (hidden,)).numpy(),
            gate_up=self.stacked(gate_up, hidden),
            down=self.stacked([(mlp + "down_proj.weight", hidden)], intermediate),
        )


def _weight_files(folder: Path) -> dict[str, str]:
    """Each tensor's file: from the shard index when there is one, else model.safetensors."""
    index = folder / "model.safetensors.index.json"
    if index.is_file():
        mapping: dict[str, str] = json.loads(index.read_text())["weight_map"]
        return mapping
    from safetensors import safe_open

    single = folder / "model.safetensors"
    with safe_open(str(single), framework="pt") as handle:
        return dict.fromkeys(handle.keys(), single.name)


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
