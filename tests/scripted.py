"""A highlights run whose windows say what a test scripted (the real finder, ranking and
outputs; a scripted backend in place of the model)."""

from __future__ import annotations

from pathlib import Path

from chronicon_mlx.analysis.session import ModelSession
from chronicon_mlx.highlight.params import HighlightsConfig
from chronicon_mlx.highlight.result import HighlightsResult
from chronicon_mlx.highlight.run import HighlightFinder
from chronicon_mlx.options import profiles
from chronicon_mlx.testing import ScriptedBackend


def scripted_highlights(
    model: Path, video: Path, said: list[tuple[str, int]], config: HighlightsConfig
) -> HighlightsResult:
    """The sports profile's run over `video`, window n answering `said[n]` (text, score)."""
    replies = [f'{{"description": "{text}", "significance": {score}}}' for text, score in said]
    session = ModelSession.from_backend(ScriptedBackend(replies), str(model))
    return HighlightFinder(session, profiles.get("sports")).run(video, config)
