"""What the transformers backend needs around transformers: device choice, a token
streamer that times the first token, a JSON constraint, and KV-cache helpers."""

from __future__ import annotations

import time
from typing import Any

from ..errors import BackendError, field
from ..machine import peak_resident_bytes
from .base import TokenCallback


def cuda_available() -> bool:
    """True when torch sees an NVIDIA GPU."""
    import torch

    return bool(torch.cuda.is_available())


def mps_available() -> bool:
    """True when torch can use Apple's Metal Performance Shaders."""
    import torch

    return bool(getattr(torch.backends, "mps", None) and torch.backends.mps.is_available())


def resolve_device(device: str) -> str:
    """auto → cuda, then mps, then cpu; an explicit device that is missing is an error."""
    if device == "auto":
        if cuda_available():
            return "cuda"
        return "mps" if mps_available() else "cpu"
    if device == "cuda" and not cuda_available():
        raise BackendError(
            f"{field('device', 'cuda')} was asked for, but torch sees no CUDA GPU",
            hint=f"use {field('device', 'cpu')}, or install a CUDA build of torch on an NVIDIA"
            " machine",
        )
    if device == "mps" and not mps_available():
        raise BackendError(
            f"{field('device', 'mps')} was asked for, but MPS is not available on this machine",
            hint=f"MPS needs Apple Silicon and macOS 12.3+; use {field('device', 'cpu')}",
        )
    if device not in ("cuda", "mps", "cpu"):
        raise BackendError(
            f"the transformers backend cannot run on '{device}'", hint="use cuda, mps or cpu"
        )
    return device


class Streamer:
    """Receives generate()'s tokens: times the first one and forwards text."""

    def __init__(self, tokenizer: Any, on_token: TokenCallback | None) -> None:
        self.tokenizer = tokenizer
        self.on_token = on_token
        self.prompt_seen = False
        self.first_token_at = 0.0
        self.tokens: list[int] = []

    def put(self, value: Any) -> None:
        if not self.prompt_seen:
            self.prompt_seen = True
            return
        if not self.first_token_at:
            self.first_token_at = time.perf_counter()
        for token in value.reshape(-1).tolist():
            self.tokens.append(int(token))
            if self.on_token is not None:
                self.on_token(self.tokenizer.decode([int(token)]))

    def end(self) -> None:
        pass


class JsonConstraint:
    """A transformers logits processor driven by an llguidance matcher (batch of one)."""

    def __init__(self, matcher: Any) -> None:
        self.matcher = matcher
        self.prompt_length: int | None = None
        self.bitmask: Any = None

    def __call__(self, input_ids: Any, scores: Any) -> Any:
        if self.prompt_length is None:
            self.prompt_length = int(input_ids.shape[1])
        else:
            self.consume(int(input_ids[0, -1]))
        self.restrict(scores)
        return scores

    def restrict(self, logits: Any) -> None:
        """Forbid, in place, every token that would break the JSON (logits [1, vocab])."""
        import llguidance.torch

        if self.bitmask is None:
            self.bitmask = llguidance.torch.allocate_token_bitmask(1, logits.shape[-1])
        llguidance.torch.fill_next_token_bitmask(self.matcher, self.bitmask, 0)
        llguidance.torch.apply_token_bitmask_inplace(logits, self.bitmask.to(logits.device))

    def consume(self, token: int) -> None:
        """Advance the matcher past the chosen token."""
        self.matcher.consume_token(token)


def crop(cache: Any, keep: int) -> None:
    """Drop a cache's tokens past `keep` (a negative count works across transformers
    versions: a positive one meant a length, then became an error)."""
    extra = int(cache.get_seq_length()) - keep
    if extra > 0:
        cache.crop(-extra)


def cache_kwarg(model: Any) -> str:
    """The keyword the model takes a KV cache by: ``cache`` in current transformers (which
    warns about the older ``past_key_values``), else ``past_key_values``."""
    import inspect

    return "cache" if "cache" in inspect.signature(model.forward).parameters else "past_key_values"


def as_list(value: Any) -> list[int]:
    if value is None:
        return []
    return [int(v) for v in value] if isinstance(value, (list, tuple)) else [int(value)]


def peak_memory_gb(device: str) -> float:
    """The process's peak memory on `device` so far (the CPU: its peak resident size)."""
    import torch

    if device == "cuda":
        return float(torch.cuda.max_memory_allocated()) / 1e9
    if device == "mps":
        return float(torch.mps.driver_allocated_memory()) / 1e9
    return peak_resident_bytes() / 1e9


def to_numpy(value: Any) -> Any:
    """A tensor as a numpy array on the CPU (bfloat16 as float32, which numpy lacks)."""
    import torch

    dtype = torch.float32 if value.dtype == torch.bfloat16 else value.dtype
    return value.detach().to("cpu", dtype).numpy()


def from_numpy(array: Any, device: str, dtype: str) -> Any:
    """A numpy array as a tensor on `device` in `dtype`."""
    import numpy as np
    import torch

    tensor = torch.from_numpy(np.ascontiguousarray(array))
    return tensor.to(device, getattr(torch, dtype))


def llguidance_tokenizer(tokenizer: Any) -> Any:
    """llguidance's view of a transformers tokenizer (built once per backend)."""
    import llguidance.hf

    return llguidance.hf.from_tokenizer(tokenizer)


def json_constraint(llg_tokenizer: Any, schema: dict[str, Any]) -> JsonConstraint:
    """A constraint that only lets through tokens that keep the output valid JSON for
    `schema`."""
    import json

    import llguidance

    compiler = llguidance.JsonCompiler(separators=(", ", ": "), whitespace_pattern="")
    grammar = compiler.compile(json.dumps(schema))
    return JsonConstraint(llguidance.LLMatcher(llg_tokenizer, grammar))


def bitsandbytes(quantize: str, info: Any, options: dict[str, Any]) -> list[str]:
    """Add bitsandbytes' 4/8-bit loading to transformers' `options` on CUDA (where it is
    installed); elsewhere return a note that the weights stay in the device's dtype."""
    import importlib.util

    if info.device == "cuda" and importlib.util.find_spec("bitsandbytes"):
        from transformers import BitsAndBytesConfig

        four = quantize == "4bit"
        options["quantization_config"] = BitsAndBytesConfig(
            load_in_4bit=four, load_in_8bit=not four
        )
        options["device_map"] = "cuda"
        return []
    return [
        f"{quantize} needs bitsandbytes on CUDA with the transformers backend;"
        f" running {info.dtype} on {info.device} instead"
    ]
