"""Shared fixtures: the offline tiny checkpoint (built once and cached) and small videos."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from chronicon_mlx.checkpoints import cached_checkpoint
from chronicon_mlx.testing import write_sample_video

REPO = Path(__file__).resolve().parents[1]
CACHE = Path(os.environ.get("CHRONICON_CACHE", REPO / ".cache"))


@pytest.fixture(scope="session")
def tiny_model() -> Path:
    """A tiny random-weight SmolVLM2 checkpoint (4 image tokens per 64 px frame)."""
    return cached_checkpoint("tiny", seed=0, root=CACHE)


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
