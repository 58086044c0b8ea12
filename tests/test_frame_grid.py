"""Highlights on one time grid: the frames inside an overlap are the same frames in both
windows, so each is decoded and encoded once; a window whose frames are unchanged gets the
same answer."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from chronicon_mlx.analysis.session import ModelSession
from chronicon_mlx.analysis.spec import SessionSpec
from chronicon_mlx.highlight.params import HighlightsConfig, plan_windows
from chronicon_mlx.highlight.run import HighlightFinder
from chronicon_mlx.media import probe
from chronicon_mlx.media.synthetic import write_sample_video
from chronicon_mlx.options import profiles


@pytest.fixture(scope="module")
def ten_minutes(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("videos") / "ten minutes.mp4"
    return write_sample_video(path, seconds=600, fps=10, size=(64, 48))


def test_overlapping_windows_share_their_frames(ten_minutes: Path) -> None:
    info = probe.probe(ten_minutes)
    config = HighlightsConfig(window_s=30, overlap_s=5, frames_per_window=8)
    spans = plan_windows(info, config)
    alone = plan_windows(
        info, HighlightsConfig(window_s=30, overlap_s=5, frames_per_window=8, frame_grid=False)
    )
    assert [(s.start_s, s.end_s) for s in spans] == [(s.start_s, s.end_s) for s in alone]
    assert all(len(s.indices) == 8 for s in spans[:-1])  # every full window
    assert spans[0].indices == alone[0].indices == [18, 56, 93, 131, 168, 206, 243, 281]
    for before, after in itertools.pairwise(spans):
        in_overlap = [
            i for i in before.indices + after.indices if after.start_s * 10 <= i < before.end_s * 10
        ]
        assert in_overlap and set(in_overlap) <= set(before.indices) & set(after.indices)
    for before, after in itertools.pairwise(alone):
        assert not set(before.indices) & set(after.indices)
    slots = sum(len(s.indices) for s in alone)
    frames = len({i for s in spans for i in s.indices})
    assert (slots, frames) == (192, 160)
    assert 1 - frames / slots >= config.overlap_s / config.window_s - 1e-9


def test_short_clips_and_ranges_keep_their_frames(ball_clip: Path) -> None:
    info = probe.probe(ball_clip)  # 3 s: shorter than one window
    (span,) = plan_windows(info, HighlightsConfig(window_s=30, overlap_s=5, frames_per_window=6))
    assert span.indices == [7, 22, 37, 52, 67, 82]


@pytest.mark.slow
def test_each_shared_frame_is_encoded_once(tiny_model: Path, tmp_path: Path) -> None:
    clip = write_sample_video(
        tmp_path / "forty.mp4", seconds=40, fps=10, size=(64, 48), coded=True
    )  # every frame differs
    runs = {}
    for grid in (True, False):
        session = ModelSession(SessionSpec(model=str(tiny_model), backend="mlx", device="cpu"))
        finder = HighlightFinder(session, profiles.get("general"))
        config = HighlightsConfig(window_s=10, overlap_s=3, frames_per_window=8, frame_grid=grid)
        runs[grid] = finder.run(clip, config).windows
    shared, alone = runs[True], runs[False]
    assert sum(w.encoded_frames for w in alone) == sum(len(w.frame_indices) for w in alone)
    unique = {i for w in shared for i in w.frame_indices}
    assert sum(w.encoded_frames for w in shared) == len(unique) == 32
    assert shared[0].frame_indices == alone[0].frame_indices
    assert shared[0].raw == alone[0].raw
    assert shared[1].frame_indices != alone[1].frame_indices
