"""The JSON records stay what they were: a run on fixed inputs is compared, key by key and
byte for byte, with records written by an earlier version (only times, paths and machine
speeds are masked). Set CHRONICON_WRITE_GOLDEN=1 to write the files anew."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from chronicon_mlx.analysis.analyze import Analyzer
from chronicon_mlx.analysis.params import GenerationConfig, SamplingConfig
from chronicon_mlx.analysis.spec import SessionSpec
from chronicon_mlx.highlight.params import HighlightsConfig
from chronicon_mlx.highlight.run import HighlightFinder
from chronicon_mlx.media.synthetic import write_sample_video
from chronicon_mlx.options import profiles
from chronicon_mlx.testing import ScriptedBackend

GOLDEN = Path(__file__).parent / "data" / "records"
MASK = "<masked>"


def _mask(record: Any, path: str = "") -> Any:
    """The record with what differs from run to run replaced by a marker (keys kept)."""
    volatile = {
        "timestamp",
        "video_path",
        "model_path",
        "last_modified",
        "prompt_tps",
        "generation_tps",
        "peak_memory_gb",
        "seconds_per_window",
    }
    if isinstance(record, dict):
        out = {}
        for key, value in record.items():
            where = f"{path}.{key}"
            if key in volatile or ".timing" in where or key == "file_size_mb":
                out[key] = _mask_numbers(value)
            else:
                out[key] = _mask(value, where)
        return out
    if isinstance(record, list):
        return [_mask(item, path) for item in record]
    return record


def _mask_numbers(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _mask_numbers(item) for key, item in value.items()}
    return MASK


def _check(name: str, record: dict[str, Any]) -> None:
    text = json.dumps(_mask(record), indent=2, ensure_ascii=False) + "\n"
    path = GOLDEN / f"{name}.json"
    if os.environ.get("CHRONICON_WRITE_GOLDEN"):
        path.write_text(text, encoding="utf-8")
    assert text == path.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("records") / "record clip.mp4"
    return write_sample_video(path, seconds=4, fps=10, size=(160, 96))


def _scripted(tiny_model: Path, replies: list[str]) -> Analyzer:
    return Analyzer.from_backend(ScriptedBackend(replies), str(tiny_model))


def test_analyze_record_is_unchanged(tiny_model: Path, clip: Path) -> None:
    analyzer = _scripted(tiny_model, ["A ball [rolls] across the field."])
    result = analyzer.analyze(
        clip,
        "Where does the ball go?",
        "Be brief.",
        SamplingConfig(frames=5, start_s=0.5, end_s=3.5),
        GenerationConfig(max_tokens=20, seed=3),
    )
    record = result.to_dict()
    record["profile"] = None
    _check("analyze_scripted", record)


def test_highlights_record_is_unchanged(tiny_model: Path, clip: Path, tmp_path: Path) -> None:
    replies = [
        '{"description": "A ball rolls in.", "significance": 7}',
        "not json",
        '{"description": "The ball rolls on.", "significance": 8}',
        '{"description": "The grass is empty.", "significance": 2}',
    ]
    finder = HighlightFinder(_scripted(tiny_model, replies), profiles.get("sports"))
    config = HighlightsConfig(window_s=1.5, overlap_s=0.5, frames_per_window=3, end_s=3.5)
    result = finder.run(clip, config, tmp_path / "out")
    _check("highlights_scripted", result.to_dict())


@pytest.mark.slow
@pytest.mark.mlx
def test_a_real_analyze_record_is_unchanged(tiny_model: Path, clip: Path) -> None:
    result = Analyzer(SessionSpec(model=str(tiny_model), backend="mlx")).analyze(
        clip, "What moves?", None, SamplingConfig(frames=4), GenerationConfig(max_tokens=6)
    )
    record = result.to_dict()
    record["profile"] = None
    _check("analyze_mlx", record)
