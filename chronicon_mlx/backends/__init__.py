"""Backend registry: names map to lazily imported implementations."""

from __future__ import annotations

import importlib
import importlib.util

from ..errors import BackendError, UsageError
from .base import Backend, BackendInfo, GenerationOutput, GenerationRequest

__all__ = [
    "BACKENDS",
    "Backend",
    "BackendInfo",
    "GenerationOutput",
    "GenerationRequest",
    "create",
]

BACKENDS: dict[str, tuple[str, str, tuple[str, ...], str]] = {
    "mlx": (
        "chronicon_mlx.backends.mlx_backend",
        "MLXBackend",
        ("mlx", "mlx_vlm"),
        "pip install 'mlx-vlm>=0.7.10' (and mlx[cpu] on Linux)",
    ),
}


def missing_modules(name: str) -> list[str]:
    """The Python packages a backend needs that are not installed."""
    _, _, needs, _ = BACKENDS[name]
    return [module for module in needs if importlib.util.find_spec(module) is None]


def create(name: str = "auto", dtype: str = "auto") -> Backend:
    """Create (but do not load) a backend by name; `auto` picks the best one installed."""
    choice = "mlx" if name == "auto" else name
    if choice not in BACKENDS:
        raise UsageError(
            f"unknown backend '{name}'", hint=f"choose one of auto, {', '.join(BACKENDS)}"
        )
    module_name, class_name, _, install = BACKENDS[choice]
    missing = missing_modules(choice)
    if missing:
        raise BackendError(
            f"the {choice} backend needs {', '.join(missing)}, which is not installed",
            hint=install,
        )
    module = importlib.import_module(module_name)
    backend: Backend = getattr(module, class_name)(dtype=dtype)
    return backend
