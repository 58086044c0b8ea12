"""Backend registry: choice of backend and device, lazy imports, install hints."""

from __future__ import annotations

import importlib
import importlib.util
from dataclasses import dataclass

from ..errors import BackendError
from ..machine import is_apple_silicon, nvidia_gpu_present
from ..options.choices import BACKENDS as BACKEND_CHOICES
from ..options.choices import DEVICES, DTYPES, check_choice
from .base import Backend, BackendInfo, GenerationOutput, GenerationRequest, Tuning

__all__ = [
    "BACKENDS",
    "DEVICES",
    "DTYPES",
    "Backend",
    "BackendInfo",
    "Candidate",
    "GenerationOutput",
    "GenerationRequest",
    "Tuning",
    "candidates",
    "create",
    "missing_modules",
]


@dataclass(frozen=True)
class _Entry:
    module: str
    cls: str
    needs: tuple[str, ...]
    install: str
    libraries: tuple[str, ...]


BACKENDS: dict[str, _Entry] = {
    "cpu": _Entry(
        "chronicon_mlx.backends.cpu_backend",
        "CPUBackend",
        ("torch", "safetensors", "tokenizers"),
        "pip install 'chronicon-mlx[torch]' (the cpu engine needs torch only)",
        ("torch",),
    ),
    "mlx": _Entry(
        "chronicon_mlx.backends.mlx_backend",
        "MLXBackend",
        ("mlx", "mlx_vlm"),
        "pip install 'mlx-vlm>=0.7.10' plus mlx on macOS or 'mlx[cpu]' on Linux",
        ("mlx.core", "mlx_vlm", "mlx_vlm.models.smolvlm"),
    ),
    "transformers": _Entry(
        "chronicon_mlx.backends.transformers_backend",
        "TransformersBackend",
        ("torch", "transformers"),
        "pip install 'chronicon-mlx[torch]' (torch, transformers, num2words)",
        (
            "torch",
            "transformers.models.smolvlm.modeling_smolvlm",
            "transformers.models.smolvlm.image_processing_pil_smolvlm",
            "transformers.tokenization_utils_tokenizers",
        ),
    ),
}


@dataclass(frozen=True)
class Candidate:
    """One way to run the model: a backend on a device."""

    backend: str
    device: str

    def __str__(self) -> str:
        return f"{self.backend} ({self.device})"


def candidates(backend: str = "auto", device: str = "auto") -> list[Candidate]:
    """The backends to try, best first.

    auto: Apple Silicon → MLX on Metal, then transformers on MPS, then the cpu engine; an
    NVIDIA GPU → transformers on CUDA first; otherwise the cpu engine (SmolVLM2 in torch
    without transformers: the fastest here, see docs/benchmarks.md), then transformers on
    the CPU, then MLX on the CPU.
    """
    check_choice(backend, BACKEND_CHOICES, "backend")
    check_choice(device, DEVICES, "device")
    if backend != "auto":
        return [Candidate(backend, device)]
    if device == "cuda":
        return [Candidate("transformers", "cuda"), Candidate("mlx", "cuda")]
    if device == "mps":
        return [Candidate("mlx", "mps"), Candidate("transformers", "mps")]
    cpu = [Candidate("cpu", "cpu"), Candidate("transformers", "cpu"), Candidate("mlx", "cpu")]
    if device == "cpu":
        return cpu
    if is_apple_silicon():
        return [Candidate("mlx", "mps"), Candidate("transformers", "mps"), Candidate("cpu", "cpu")]
    if nvidia_gpu_present():
        return [Candidate("transformers", "cuda"), Candidate("mlx", "auto"), *cpu[:2]]
    return cpu


def missing_modules(name: str) -> list[str]:
    """The Python packages a backend needs that are not installed."""
    return [module for module in BACKENDS[name].needs if importlib.util.find_spec(module) is None]


def create(candidate: Candidate, dtype: str = "auto", tuning: Tuning | None = None) -> Backend:
    """Create (but do not load) a backend with its `tuning`, importing the libraries it runs
    on; raise BackendError with an install hint."""
    check_choice(dtype, DTYPES, "dtype")
    entry = BACKENDS[candidate.backend]
    missing = missing_modules(candidate.backend)
    if missing:
        raise BackendError(
            f"the {candidate.backend} backend needs {', '.join(missing)}, which is not installed",
            hint=entry.install,
        )
    module = importlib.import_module(entry.module)
    kind = getattr(module, entry.cls)
    backend: Backend = kind(dtype=dtype, device=candidate.device, tuning=tuning or Tuning())
    # after: the MLX backend picks its BLAS before mlx loads
    for library in entry.libraries:
        importlib.import_module(library)
    return backend
