"""Second round, class 5 (the terminal still received control text): C1 controls and
bidirectional overrides from a model answer are escaped in JSON and never reach the screen."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from chronicon_mlx.backends.base import GenerationOutput
from chronicon_mlx.backends.mlx_backend import MLXBackend
from chronicon_mlx.cli.app import app

pytestmark = pytest.mark.slow
ANSWER = "red \u009b31m card\u009b0m for \u202etsol\u202c the \u2066home\u2069 side\x85."
RAW = ("\u009b", "\u202e", "\u202c", "\u2066", "\u2069", "\x85")


@pytest.fixture()
def hostile_answer(monkeypatch: pytest.MonkeyPatch) -> None:
    def generate(self: MLXBackend, request: Any, on_token: Any = None) -> GenerationOutput:
        if on_token is not None:
            on_token(ANSWER)
        return GenerationOutput(ANSWER, [1], 10, 1, 1.0, 1.0, 0.0, "stop")

    monkeypatch.setattr(MLXBackend, "generate", generate)


def test_c1_controls_and_bidi_overrides_never_reach_the_terminal_raw(
    runner: CliRunner, tiny_model: Path, ball_clip: Path, hostile_answer: None, tmp_path: Path
) -> None:
    base = ["analyze", str(ball_clip), "-m", str(tiny_model), "-b", "mlx", "--frames", "2"]
    as_json = runner.invoke(app, [*base, "--json", "--no-save"])
    assert as_json.exit_code == 0, as_json.output
    assert not any(char in as_json.stdout for char in RAW)
    assert "\\u009b31m" in as_json.stdout and "\\u202e" in as_json.stdout
    assert json.loads(as_json.stdout)["analysis"] == ANSWER
    plain = runner.invoke(app, [*base, "--no-save"])
    assert plain.exit_code == 0
    assert not any(char in plain.stdout + plain.stderr for char in RAW)
    assert "red 31m card0m for tsol the home side." in plain.stdout
    chat = runner.invoke(
        app,
        ["chat", str(ball_clip), "-m", str(tiny_model), "-b", "mlx", "--frames", "2", "--json"],
        input="Who?\n",
    )
    assert chat.exit_code == 0 and not any(char in chat.stdout for char in RAW)
    saved = tmp_path / "record.json"
    runner.invoke(app, [*base, "-o", str(saved)])
    assert not any(char in saved.read_text() for char in RAW)
