"""Chronicon MLX: understand videos locally with SmolVLM2.

Heavy libraries (mlx, mlx-vlm, torch, transformers, OpenCV) load only when a function that
needs them runs, so importing this package is cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

__all__ = [
    "AnalysisResult",
    "Analyzer",
    "ChroniconError",
    "GenerationConfig",
    "Highlight",
    "HighlightFinder",
    "HighlightsConfig",
    "HighlightsResult",
    "Profile",
    "SamplingConfig",
    "WindowResult",
    "__version__",
    "analyze",
    "highlights",
]

if TYPE_CHECKING:
    from .config import GenerationConfig, SamplingConfig
    from .errors import ChroniconError
    from .finder import HighlightFinder, HighlightsConfig, HighlightsResult, highlights
    from .pipeline import Analyzer, analyze
    from .profiles import Profile
    from .ranking import Highlight, WindowResult
    from .results import AnalysisResult

_LAZY = {
    "AnalysisResult": "results",
    "Analyzer": "pipeline",
    "analyze": "pipeline",
    "ChroniconError": "errors",
    "GenerationConfig": "config",
    "SamplingConfig": "config",
    "Highlight": "ranking",
    "WindowResult": "ranking",
    "HighlightFinder": "finder",
    "HighlightsConfig": "finder",
    "HighlightsResult": "finder",
    "highlights": "finder",
    "Profile": "profiles",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'chronicon_mlx' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(f".{module}", __name__), name)
