"""Shared fixtures: the offline tiny checkpoint (built once and cached) and small videos."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from chronicon_mlx.media.synthetic import write_sample_video
from chronicon_mlx.model.random_weights import cached_checkpoint

REPO = Path(__file__).resolve().parents[1]
CACHE = Path(os.environ.get("CHRONICON_CACHE", REPO / ".cache"))
os.environ["CHRONICON_CACHE"] = str(CACHE)  # tiny-random and subprocesses build here too


@pytest.fixture(autouse=True)
def video_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test its own video cache folder, so that no run reads another test's entries."""
    folder = tmp_path_factory.mktemp("video-cache")
    monkeypatch.setenv("CHRONICON_VIDEO_CACHE", str(folder))
    return folder


@pytest.fixture(scope="session")
def tiny_model() -> Path:
    """A tiny random-weight SmolVLM2 checkpoint (4 image tokens per 64 px frame)."""
    return cached_checkpoint("tiny", seed=0, root=CACHE)


@pytest.fixture(scope="session")
def tiny_whisper() -> Path:
    """A tiny random-weight Whisper, converted for faster-whisper by CTranslate2's own
    converter (building it needs torch and transformers)."""
    from chronicon_mlx.audio.random_whisper import cached_whisper

    return cached_whisper("tiny-random", root=CACHE)


@pytest.fixture(scope="session")
def coded_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """4 s at 30 fps, 160x120; every frame carries its own index (see read_frame_code)."""
    path = tmp_path_factory.mktemp("videos") / "coded.mp4"
    return write_sample_video(path, seconds=4, fps=30, size=(160, 120), coded=True)


@pytest.fixture(scope="session")
def ball_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """3 s at 30 fps, 320x180: a red ball crossing the frame."""
    path = tmp_path_factory.mktemp("videos") / "ball clip.mp4"
    return write_sample_video(path, seconds=3, fps=30, size=(320, 180))


@pytest.fixture()
def runner() -> CliRunner:
    """A Typer CLI runner."""
    return CliRunner()


@pytest.fixture()
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Run the test from an empty folder (default outputs land under it)."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture(scope="session")
def bad_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Files that are not usable videos, by kind (plus a folder), and a missing path."""
    root = tmp_path_factory.mktemp("bad")
    good = write_sample_video(root / "good.mp4", seconds=1, fps=30, size=(64, 48))
    data = good.read_bytes()
    files = {"folder": root / "a folder"}
    files["folder"].mkdir()
    files["text"] = root / "notes.mp4"
    files["text"].write_text("this is not a video\n")
    import cv2
    import numpy as np

    files["png"] = root / "still.png"
    cv2.imwrite(str(files["png"]), np.zeros((8, 8, 3), np.uint8))
    files["png_as_mp4"] = root / "still.mp4"
    files["png_as_mp4"].write_bytes(files["png"].read_bytes())
    files["empty"] = root / "empty.mp4"
    files["empty"].write_bytes(b"")
    files["truncated"] = root / "truncated.mp4"
    files["truncated"].write_bytes(data[: len(data) // 2])
    blank = bytearray(data)
    start, end = blank.find(b"mdat") + 4, blank.find(b"moov")
    blank[start:end] = bytes(end - start)
    files["undecodable"] = root / "undecodable.mp4"
    files["undecodable"].write_bytes(bytes(blank))
    files["missing"] = root / "missing.mp4"
    return files


SMOLVLM2_FILES = Path(__file__).parent / "data" / "smolvlm2"
TINY_SIZES = {
    "text_config": {
        "hidden_size": 64,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "intermediate_size": 128,
        "head_dim": 16,
    },
    "vision_config": {
        "hidden_size": 64,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "intermediate_size": 128,
    },
}


@pytest.fixture(scope="session")
def real_files_checkpoint() -> Callable[[str], Path]:
    """Builds (once) tiny checkpoints with SmolVLM2's real files (see `_real_files`)."""
    return _real_files


def _real_files(layout: str) -> Path:
    """Tiny random weights with SmolVLM2's real tokenizer, special-token ids, chat template,
    processor files and image geometry for `layout` ("256m" or "2.2b"); built once."""
    from chronicon_mlx.model.random_weights import real_files_checkpoint

    return real_files_checkpoint(SMOLVLM2_FILES, layout, TINY_SIZES, root=CACHE)
