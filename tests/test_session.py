"""The model session: a ready backend goes in through the front door, loads happen once,
and tasks share what it loaded."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from chronicon_mlx import backends
from chronicon_mlx.analysis.analyze import analyze_video
from chronicon_mlx.analysis.params import GenerationConfig, SamplingConfig
from chronicon_mlx.analysis.session import ModelSession
from chronicon_mlx.backends import BackendInfo, GenerationOutput, GenerationRequest
from chronicon_mlx.errors import UsageError
from chronicon_mlx.highlight.params import HighlightsConfig
from chronicon_mlx.highlight.run import HighlightFinder
from chronicon_mlx.options import profiles


class Scripted:
    """Answers every request with the same text; counts requests."""

    def __init__(self, text: str) -> None:
        self.info = BackendInfo("scripted", "cpu", "float32")
        self.supports_json_schema = True
        self.text = text
        self.requests: list[GenerationRequest] = []

    def load(self, model: object, quantize: str | None = None) -> list[str]:
        raise AssertionError("a ready backend is never loaded again")

    def prompt_ids(self, request: GenerationRequest) -> list[int]:
        return []

    def generate(
        self, request: GenerationRequest, on_token: Callable[[str], None] | None = None
    ) -> GenerationOutput:
        self.requests.append(request)
        for piece in self.text.split():
            if on_token is not None:
                on_token(piece)
        return GenerationOutput(self.text, [1], 10, 1, 1.0, 1.0, 0.0, "stop")


@pytest.fixture()
def no_backend_creation(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("no backend may be created")

    monkeypatch.setattr("chronicon_mlx.analysis.session.create", refuse)


def test_a_ready_backend_is_the_session(
    tiny_model: Path, ball_clip: Path, no_backend_creation: None
) -> None:
    scripted = Scripted('{"description": "A ball rolls.", "significance": 7}')
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
    assert result.backend == "scripted" and result.analysis == scripted.text
    assert pieces == scripted.text.split()
    assert result.stages["load"] == 0.0
    # The same session serves a second task.
    finder = HighlightFinder(session, profiles.get("general"))
    windows = list(finder.iter_windows(ball_clip, HighlightsConfig(window_s=1.5, overlap_s=0.5)))
    assert [w.number for w in windows] == [0, 1, 2]
    assert [w.significance for w in windows] == [7, 7, 7]
    assert len(scripted.requests) == 1 + 3


def test_the_model_loads_once_for_many_videos(
    tiny_model: Path, ball_clip: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    created: list[object] = []
    real = backends.create

    def counting(*args: object, **kwargs: object) -> object:
        created.append(args)
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr("chronicon_mlx.analysis.session.create", counting)
    session = ModelSession(model=str(tiny_model), backend="mlx")
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
        ModelSession(model=str(tiny_model), quantize="auto4")  # type: ignore[arg-type]
