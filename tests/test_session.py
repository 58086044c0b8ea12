"""The model session: a ready backend goes in through the front door, loads happen once,
and tasks share what it loaded."""

from __future__ import annotations

from pathlib import Path

import pytest

from chronicon_mlx import backends
from chronicon_mlx.analysis.analyze import analyze_video
from chronicon_mlx.analysis.params import GenerationConfig, SamplingConfig
from chronicon_mlx.analysis.session import ModelSession
from chronicon_mlx.analysis.spec import SessionSpec
from chronicon_mlx.errors import UsageError
from chronicon_mlx.highlight.params import HighlightsConfig
from chronicon_mlx.highlight.run import HighlightFinder
from chronicon_mlx.options import profiles
from chronicon_mlx.testing import ScriptedBackend


@pytest.fixture()
def no_backend_creation(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("no backend may be created")

    monkeypatch.setattr("chronicon_mlx.analysis.session.create", refuse)


def test_a_ready_backend_is_the_session(
    tiny_model: Path, ball_clip: Path, no_backend_creation: None
) -> None:
    text = '{"description": "A ball rolls.", "significance": 7}'
    scripted = ScriptedBackend(text)
    session = ModelSession.from_backend(scripted, str(tiny_model))
    assert session.is_loaded
    loaded = session.load()
    assert loaded.backend is scripted and session.load() is loaded
    pieces: list[str] = []
    result = analyze_video(
        session,
        ball_clip,
        "What moves?",
        None,
        SamplingConfig(frames=3),
        GenerationConfig(max_tokens=5),
        on_token=pieces.append,
    )
    assert result.backend == "scripted" and result.analysis == text
    assert "".join(pieces) == text and len(pieces) == len(text.split(" "))
    assert result.stages["load"] == 0.0
    # The same session serves a second task.
    finder = HighlightFinder(session, profiles.get("general"))
    windows = list(finder.iter_windows(ball_clip, HighlightsConfig(window_s=1.5, overlap_s=0.5)))
    assert [w.number for w in windows] == [0, 1, 2]
    assert [w.significance for w in windows] == [7, 7, 7]
    assert len(scripted.requests) == 1 + 3 and scripted.loads == 0


def test_the_model_loads_once_for_many_videos(
    tiny_model: Path, ball_clip: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    created: list[object] = []
    real = backends.create

    def counting(*args: object, **kwargs: object) -> object:
        created.append(args)
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr("chronicon_mlx.analysis.session.create", counting)
    session = ModelSession(SessionSpec(model=str(tiny_model), backend="mlx"))
    assert not session.is_loaded
    small = SamplingConfig(frames=2), GenerationConfig(max_tokens=2)
    first = analyze_video(session, ball_clip, None, None, *small)
    second = analyze_video(session, ball_clip, None, None, *small)
    assert len(created) == 1
    assert first.stages["load"] > 0 and second.stages["load"] == 0.0


def test_python_callers_see_setting_names_not_flags(tiny_model: Path) -> None:
    with pytest.raises(UsageError) as caught:
        SamplingConfig(frames=0)
    assert caught.value.message == "frames must be between 1 and 64 (got 0)"
    assert str(caught.value) == caught.value.message
    from chronicon_mlx.cli.flags import FLAGS

    assert caught.value.rendered(FLAGS)[0] == "--frames must be between 1 and 64 (got 0)"
    with pytest.raises(UsageError, match="unknown quantization 'auto4'"):
        ModelSession(SessionSpec(model=str(tiny_model), quantize="auto4"))  # type: ignore[arg-type]
