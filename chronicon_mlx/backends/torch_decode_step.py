"""One decode step of a Llama text model on the CPU, at the memory-bandwidth limit.

A step reads every weight once to produce one token. Through ``nn.Linear`` a batch-of-one
product runs MKL's GEMM at about half this CPU's memory bandwidth; OpenBLAS's GEMV over the
same weights laid out input-major runs near it. So each projection's weight is stored once,
input-major, shared by torch (as a transposed view, for the prefill) and numpy (for this
step), and the step runs the layer's arithmetic in the order the transformers layer does.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


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
    module keeping a transposed view of its columns; return them as one numpy array
    [in, sum of outs]."""
    import torch

    stored = torch.cat([linear.weight.detach().t() for linear in linears], dim=1).contiguous()
    start = 0
    for linear in linears:
        end = start + linear.weight.shape[0]
        linear.weight = torch.nn.Parameter(stored[:, start:end].t(), requires_grad=False)
        start = end
    return stored.numpy()


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
        self.eps = float(config.rms_norm_eps)
        self.final_norm = text.norm.weight
        self.rotary = text.rotary_emb
        self.layers = []
        for layer in text.layers:
            attn, mlp = layer.self_attn, layer.mlp
            self.layers.append(
                _Layer(
                    norm_in=layer.input_layernorm.weight,
                    qkv=_input_major(attn.q_proj, attn.k_proj, attn.v_proj),
                    o=_input_major(attn.o_proj),
                    norm_post=layer.post_attention_layernorm.weight,
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
        self.embed = embed.weight
        self._torch = torch

    def _norm(self, x: Any, weight: Any) -> Any:
        torch = self._torch
        variance = x.pow(2).mean(-1, keepdim=True)
        return weight * (x * torch.rsqrt(variance + self.eps))

    @staticmethod
    def _matvec(x: Any, weight: Any) -> Any:
        import torch

        return torch.from_numpy(x.numpy() @ weight)

    def __call__(self, token: int, cache: Any) -> Any:
        """Logits [1, vocab] (float32) after `token`, its keys and values added to `cache`."""
        torch = self._torch
        position = int(cache.get_seq_length())
        x = self.embed[token].reshape(1, -1)
        cos, sin = self.rotary(x, torch.tensor([[position]]))
        cos, sin = cos[0], sin[0]
        half = self.head_dim // 2
        split = (self.heads * self.head_dim, self.kv_heads * self.head_dim)
        for number, layer in enumerate(self.layers):
            h = self._norm(x, layer.norm_in)
            qkv = self._matvec(h, layer.qkv)[0]
            q = qkv[: split[0]].view(self.heads, 1, self.head_dim)
            k = qkv[split[0] : split[0] + split[1]].view(self.kv_heads, 1, self.head_dim)
            v = qkv[split[0] + split[1] :].view(self.kv_heads, 1, self.head_dim)
            q = q * cos + torch.cat((-q[..., half:], q[..., :half]), dim=-1) * sin
            k = k * cos + torch.cat((-k[..., half:], k[..., :half]), dim=-1) * sin
            keys, values = cache.layers[number].update(k[None], v[None])
            out = torch.nn.functional.scaled_dot_product_attention(
                q[None], keys, values, scale=self.scaling, enable_gqa=True
            )
            x = x + self._matvec(out.reshape(1, -1), layer.o)
            h = self._norm(x, layer.norm_post)
            gate_up = self._matvec(h, layer.gate_up)
            gate = torch.nn.functional.silu(gate_up[:, : self.intermediate])
            x = x + self._matvec(gate * gate_up[:, self.intermediate :], layer.down)
        x = self._norm(x, self.final_norm)
        return self._matvec(x, self.head)
