"""Backend registry: choice of backend and device, lazy imports, install hints."""

from __future__ import annotations

import importlib
import importlib.util
import os
import shutil
from dataclasses import dataclass

from ..errors import BackendError, UsageError
from ..system import is_apple_silicon
from .base import Backend, BackendInfo, GenerationOutput, GenerationRequest

__all__ = [
    "BACKENDS",
    "DEVICES",
    "DTYPES",
    "Backend",
    "BackendInfo",
    "Candidate",
    "GenerationOutput",
    "GenerationRequest",
    "candidates",
    "create",
    "missing_modules",
]

DEVICES = ("auto", "mps", "cuda", "cpu")
DTYPES = ("auto", "float32", "float16", "bfloat16")


@dataclass(frozen=True)
class _Entry:
    module: str
    cls: str
    needs: tuple[str, ...]
    install: str


BACKENDS: dict[str, _Entry] = {
    "mlx": _Entry(
        "chronicon_mlx.backends.mlx_backend",
        "MLXBackend",
        ("mlx", "mlx_vlm"),
        "pip install 'mlx-vlm>=0.7.10' plus mlx on macOS or 'mlx[cpu]' on Linux",
    ),
    "transformers": _Entry(
        "chronicon_mlx.backends.transformers_backend",
        "TransformersBackend",
        ("torch", "transformers"),
        "pip install 'chronicon-mlx[torch]' (torch, transformers, num2words)",
    ),
}


@dataclass(frozen=True)
class Candidate:
    """One way to run the model: a backend on a device."""

    backend: str
    device: str

    def __str__(self) -> str:
        return f"{self.backend} ({self.device})"


def nvidia_gpu_present() -> bool:
    """A cheap look for an NVIDIA driver, without importing torch."""
    return os.path.exists("/proc/driver/nvidia/version") or shutil.which("nvidia-smi") is not None


def candidates(backend: str = "auto", device: str = "auto") -> list[Candidate]:
    """The backends to try, best first.

    auto: Apple Silicon → MLX on Metal, then transformers on MPS, then CPU; an NVIDIA GPU →
    transformers on CUDA first; otherwise the faster CPU backend first. On a Linux CPU that
    is transformers: its vision encoding and prefill measured about 3x faster than MLX's
    (even with an optimised BLAS), with decoding at the same speed.
    """
    if backend not in ("auto", *BACKENDS):
        raise UsageError(
            f"unknown backend '{backend}'", hint=f"choose one of auto, {', '.join(BACKENDS)}"
        )
    if device not in DEVICES:
        raise UsageError(f"unknown device '{device}'", hint=f"choose one of {', '.join(DEVICES)}")
    if backend != "auto":
        return [Candidate(backend, device)]
    if device == "cuda":
        return [Candidate("transformers", "cuda"), Candidate("mlx", "cuda")]
    if device == "mps":
        return [Candidate("mlx", "mps"), Candidate("transformers", "mps")]
    if device == "cpu":
        return [Candidate("transformers", "cpu"), Candidate("mlx", "cpu")]
    if is_apple_silicon():
        return [
            Candidate("mlx", "mps"),
            Candidate("transformers", "mps"),
            Candidate("transformers", "cpu"),
        ]
    if nvidia_gpu_present():
        return [
            Candidate("transformers", "cuda"),
            Candidate("mlx", "auto"),
            Candidate("transformers", "cpu"),
        ]
    return [Candidate("transformers", "cpu"), Candidate("mlx", "cpu")]


def missing_modules(name: str) -> list[str]:
    """The Python packages a backend needs that are not installed."""
    return [module for module in BACKENDS[name].needs if importlib.util.find_spec(module) is None]


def create(candidate: Candidate, dtype: str = "auto") -> Backend:
    """Create (but do not load) a backend; raise BackendError with an install hint."""
    if dtype not in DTYPES:
        raise UsageError(f"unknown dtype '{dtype}'", hint=f"choose one of {', '.join(DTYPES)}")
    entry = BACKENDS[candidate.backend]
    missing = missing_modules(candidate.backend)
    if missing:
        raise BackendError(
            f"the {candidate.backend} backend needs {', '.join(missing)}, which is not installed",
            hint=entry.install,
        )
    module = importlib.import_module(entry.module)
    backend: Backend = getattr(module, entry.cls)(dtype=dtype, device=candidate.device)
    return backend
