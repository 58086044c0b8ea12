"""Several questions about one video: the frames are decoded and encoded once, the video is
prefilled once, and every answer is token for token the one a run of its own gives."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from chronicon_mlx.analysis.analyze import Analyzer, analyze_video
from chronicon_mlx.analysis.params import GenerationConfig, SamplingConfig
from chronicon_mlx.analysis.spec import SessionSpec
from chronicon_mlx.cli.app import app

QUESTIONS = ["What moves?", "Which colour is the ball?", "Describe the background."]
SAMPLING = SamplingConfig(frames=4)
GENERATION = GenerationConfig(max_tokens=12)


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["mlx", "transformers"])
def test_several_questions_equal_separate_runs(
    tiny_model: Path, ball_clip: Path, backend: str
) -> None:
    session = Analyzer(SessionSpec(model=str(tiny_model), backend=backend, device="cpu"))
    result = session.analyze(ball_clip, QUESTIONS, "Be brief.", SAMPLING, GENERATION)
    assert [a.question for a in result.answers] == QUESTIONS
    first, *later = result.answers
    assert first.usage.encoded_frames == 4 and first.usage.cached_tokens > 4 * 4
    for answer in later:
        assert answer.usage.encoded_frames == 0
        assert answer.usage.cached_tokens == first.usage.cached_tokens
    assert result.analysis == first.text and result.prompt == QUESTIONS[0]
    for question, answer in zip(QUESTIONS, result.answers, strict=True):
        alone = Analyzer(SessionSpec(model=str(tiny_model), backend=backend, device="cpu"))
        single = alone.analyze(ball_clip, question, "Be brief.", SAMPLING, GENERATION)
        assert single.analysis == answer.text
        assert single.usage.prompt_tokens == answer.usage.prompt_tokens
        assert single.answers == []


def test_the_record_holds_one_answer_per_question(tiny_model: Path, ball_clip: Path) -> None:
    session = Analyzer(SessionSpec(model=str(tiny_model), backend="mlx", device="cpu"))
    record = analyze_video(session, ball_clip, QUESTIONS[:2], None, SAMPLING, GENERATION)
    data = record.to_dict()
    assert [a["prompt"] for a in data["answers"]] == QUESTIONS[:2]
    assert data["analysis"] == data["answers"][0]["analysis"]
    assert data["answers"][1]["tokens"]["reused"] > 0
    assert data["answers"][1]["encoded_frames"] == 0
    one = analyze_video(session, ball_clip, QUESTIONS[0], None, SAMPLING, GENERATION).to_dict()
    assert "answers" not in one and one["analysis"] == data["analysis"]


def test_repeated_prompt_flag(runner: CliRunner, ball_clip: Path, in_tmp: Path) -> None:
    args = [
        "analyze",
        str(ball_clip),
        "--model",
        "tiny-random",
        "--frames",
        "3",
        "--max-tokens",
        "6",
        "-p",
        "First?",
        "-p",
        "Second?",
    ]
    shown = runner.invoke(app, args)
    assert shown.exit_code == 0, shown.output
    assert "Q: First?" in shown.stdout and "Q: Second?" in shown.stdout
    listed = runner.invoke(app, [*args, "--json", "--no-save"])
    assert listed.exit_code == 0, listed.output
    data = json.loads(listed.stdout)
    assert [a["prompt"] for a in data["answers"]] == ["First?", "Second?"]
    saved = json.loads(next((in_tmp / "results").glob("*.json")).read_text())
    assert [a["prompt"] for a in saved["answers"]] == ["First?", "Second?"]
