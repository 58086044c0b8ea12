"""Chronicon MLX: understand videos locally with SmolVLM2.

Heavy libraries (mlx, mlx-vlm, torch, transformers, OpenCV) load only when a function that
needs them runs, so importing this package is cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS = {
    "analyze": "analysis.analyze",
    "analyze_video": "analysis.analyze",
    "Analyzer": "analysis.analyze",
    "AnalysisResult": "analysis.result",
    "GenerationConfig": "analysis.params",
    "SamplingConfig": "analysis.params",
    "LoadedModel": "analysis.session",
    "ModelSession": "analysis.session",
    "SessionSpec": "analysis.spec",
    "Tuning": "backends.base",
    "VideoCache": "analysis.videocache",
    "VideoChat": "analysis.conversation",
    "Answer": "analysis.result",
    "highlights": "highlight.run",
    "HighlightFinder": "highlight.run",
    "HighlightsConfig": "highlight.params",
    "Highlight": "highlight.result",
    "HighlightsResult": "highlight.result",
    "WindowResult": "highlight.result",
    "write_highlights": "output",
    "Profile": "options.profiles",
    "get_profile": "options.profiles:get",
    "NullReporter": "progress",
    "Reporter": "progress",
    "BackendError": "errors",
    "ChroniconError": "errors",
    "ModelError": "errors",
    "OutputError": "errors",
    "ResourceError": "errors",
    "UsageError": "errors",
    "VideoError": "errors",
}
__all__ = ["__version__", *_EXPORTS]

if TYPE_CHECKING:
    from .analysis.analyze import Analyzer, analyze, analyze_video
    from .analysis.conversation import VideoChat
    from .analysis.params import GenerationConfig, SamplingConfig
    from .analysis.result import AnalysisResult, Answer
    from .analysis.session import LoadedModel, ModelSession
    from .analysis.spec import SessionSpec
    from .analysis.videocache import VideoCache
    from .backends.base import Tuning
    from .errors import (
        BackendError,
        ChroniconError,
        ModelError,
        OutputError,
        ResourceError,
        UsageError,
        VideoError,
    )
    from .highlight.params import HighlightsConfig
    from .highlight.result import Highlight, HighlightsResult, WindowResult
    from .highlight.run import HighlightFinder, highlights
    from .options.profiles import Profile
    from .options.profiles import get as get_profile
    from .output import write_highlights
    from .progress import NullReporter, Reporter


def __getattr__(name: str) -> Any:
    target = _EXPORTS.get(name)
    if target is None:
        raise AttributeError(f"module 'chronicon_mlx' has no attribute {name!r}")
    import importlib

    module, _, attribute = target.partition(":")
    return getattr(importlib.import_module(f".{module}", __name__), attribute or name)
