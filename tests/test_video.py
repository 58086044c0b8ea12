"""Frame index planning, exact decoding, timestamps, colour order and resizing."""

from __future__ import annotations

import itertools
import re
from pathlib import Path

import numpy as np
import pytest

from chronicon_mlx.errors import VideoError
from chronicon_mlx.media import decode, plan, probe
from chronicon_mlx.media.synthetic import read_frame_code, write_sample_video


def test_plan_spreads_distinct_indices_over_the_clip() -> None:
    assert plan.plan_indices(90, 8) == [5, 16, 28, 39, 50, 61, 73, 84]
    assert plan.plan_indices(120, 1) == [60]
    assert plan.plan_indices(9, 8) == [0, 1, 2, 3, 5, 6, 7, 8]


def test_plan_gives_every_frame_when_the_clip_is_short() -> None:
    assert plan.plan_indices(5, 8) == [0, 1, 2, 3, 4]
    assert plan.plan_indices(8, 8) == list(range(8))
    assert plan.plan_indices(0, 8) == []


@pytest.mark.parametrize("count", [1, 2, 7, 63, 64, 65, 100, 1000, 123457])
@pytest.mark.parametrize("n", [1, 2, 8, 16, 63, 64])
def test_plan_is_strictly_increasing_and_in_range(count: int, n: int) -> None:
    indices = plan.plan_indices(count, n)
    assert len(indices) == min(count, n)
    assert all(a < b for a, b in itertools.pairwise(indices))
    assert indices[0] >= 0 and indices[-1] < count


def test_probe_reads_the_stream(coded_clip: Path) -> None:
    info = probe.probe(coded_clip)
    assert (info.frame_count, info.fps, info.width, info.height) == (120, 30.0, 160, 120)
    assert info.duration_s == pytest.approx(4.0)
    assert info.codec == "fmp4"
    assert info.file_size_bytes == coded_clip.stat().st_size


@pytest.mark.parametrize("indices", [[0, 1, 2, 119], [5, 20, 47, 90, 118], [3, 60, 117]])
def test_sample_returns_exactly_the_frames_asked_for(coded_clip: Path, indices: list[int]) -> None:
    info = probe.probe(coded_clip)
    frames = decode.sample(info, indices)
    assert [f.index for f in frames] == indices
    assert [read_frame_code(f.image) for f in frames] == indices
    assert [f.timestamp_s for f in frames] == pytest.approx([i / 30 for i in indices], abs=1e-3)


def test_sparse_requests_seek_and_stay_exact(tmp_path: Path) -> None:
    clip = write_sample_video(tmp_path / "long.mp4", seconds=30, fps=30, size=(64, 48), coded=True)
    info = probe.probe(clip)
    indices = [10, 250, 600, 880]  # gaps far above SEQUENTIAL_MAX_GAP
    frames = decode.sample(info, indices)
    assert [read_frame_code(f.image) % 256 for f in frames] == [i % 256 for i in indices]
    assert [f.timestamp_s for f in frames] == pytest.approx([i / 30 for i in indices], abs=1e-3)


def test_frames_are_rgb_and_keep_their_aspect_ratio(ball_clip: Path) -> None:
    info = probe.probe(ball_clip)
    (frame,) = decode.sample(info, [45], longest_edge=64)
    assert frame.image.shape == (36, 64, 3)
    assert frame.image.dtype == np.uint8
    red = frame.image[18, 30:34].mean(axis=0)  # the ball is in the middle at mid-clip
    assert red[0] > 150 and red[2] < 80


def test_frames_are_never_enlarged(ball_clip: Path) -> None:
    info = probe.probe(ball_clip)
    (frame,) = decode.sample(info, [0], longest_edge=4096)
    assert frame.image.shape == (180, 320, 3)


def test_target_size() -> None:
    assert plan.target_size(1920, 1080, 512) == (512, 288)
    assert plan.target_size(1080, 1920, 512) == (288, 512)
    assert plan.target_size(100, 50, None) == (100, 50)
    assert plan.target_size(4, 3000, 512) == (1, 512)


def test_a_video_with_no_decodable_frames_is_refused(tmp_path: Path) -> None:
    clip = write_sample_video(tmp_path / "ok.mp4", seconds=1, fps=30, size=(64, 48))
    data = bytearray(clip.read_bytes())
    start = data.find(b"mdat") + 4
    end = data.find(b"moov")
    data[start:end] = bytes(end - start)
    broken = tmp_path / "blank.mp4"
    broken.write_bytes(bytes(data))
    with pytest.raises(VideoError, match="no decodable video frames"):
        probe.probe(broken)


def test_a_time_range_restricts_the_frames(coded_clip: Path) -> None:
    info = probe.probe(coded_clip)
    assert plan.frame_range(info, 1.0, 2.0) == (30, 60)
    assert plan.frame_range(info, 0.0, None) == (0, 120)
    assert plan.frame_range(info, 3.5, 99.0) == (105, 120)
    first, stop = plan.frame_range(info, 1.0, 2.0)
    indices = plan.plan_range(first, stop, 3)
    assert indices == [35, 45, 55]
    frames = decode.sample(info, indices)
    assert [read_frame_code(f.image) for f in frames] == indices
    assert all(1.0 <= f.timestamp_s < 2.0 for f in frames)


def test_a_start_past_the_end_is_a_usage_error(coded_clip: Path) -> None:
    from chronicon_mlx.cli.flags import FLAGS
    from chronicon_mlx.errors import UsageError

    with pytest.raises(UsageError) as caught:
        plan.frame_range(probe.probe(coded_clip), 5.0, None)
    message = caught.value.rendered(FLAGS)[0]
    assert re.search(r"--start 5 s is past the end of the video \(4.0 s\)", message)
    assert caught.value.message == "start_s=5 s is past the end of the video (4.0 s)"


def test_scene_sampling_prefers_frames_right_after_cuts(tmp_path: Path) -> None:
    import cv2

    from chronicon_mlx.media import scenes

    cuts = [20, 50, 80, 100]
    colours = [(30, 30, 30), (200, 40, 40), (40, 200, 40), (40, 40, 200), (220, 220, 220)]
    path = tmp_path / "cuts.mp4"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"mp4v"), 30, (64, 48))
    for i in range(120):
        scene = sum(i >= c for c in cuts)
        frame = np.full((48, 64, 3), colours[scene], np.uint8)
        cv2.circle(frame, (i % 64, 24), 3, (128, 128, 128), -1)  # small motion within a scene
        writer.write(frame)
    writer.release()
    info = probe.probe(path)
    chosen = scenes.choose(info, 0, 120, 6)
    assert len(chosen) == 6 == len(set(chosen))
    assert chosen[0] < 5 and chosen[-1] > 114  # both ends stay covered
    for cut in cuts:
        assert any(cut <= index <= cut + 3 for index in chosen), (cut, chosen)
    uniform = plan.plan(info, 0, 120, 6)
    assert sum(any(c <= i <= c + 3 for i in uniform) for c in cuts) < 4


def test_scene_sampling_without_cuts_still_spreads(coded_clip: Path) -> None:
    from chronicon_mlx.media import scenes

    info = probe.probe(coded_clip)
    chosen = scenes.choose(info, 0, info.frame_count, 5)
    assert len(chosen) == 5 and chosen == sorted(set(chosen))
    assert chosen[0] < 10 and chosen[-1] > 110


@pytest.mark.parametrize(("bad_count", "bad_fps"), [(0, 0.0), (-1, 1000.0), (-9.2e18, 90000.0)])
def test_wrong_container_numbers_fall_back(
    coded_clip: Path, monkeypatch: pytest.MonkeyPatch, bad_count: float, bad_fps: float
) -> None:
    import cv2

    real = cv2.VideoCapture

    class Lying:
        def __init__(self, *args: object) -> None:
            self.cap = real(*args)

        def get(self, prop: int) -> float:
            if prop == cv2.CAP_PROP_FRAME_COUNT:
                return bad_count
            if prop == cv2.CAP_PROP_FPS:
                return bad_fps
            return float(self.cap.get(prop))

        def __getattr__(self, name: str) -> object:
            return getattr(self.cap, name)

    monkeypatch.setattr(cv2, "VideoCapture", Lying)
    info = probe.probe(coded_clip)
    assert info.frame_count == 120  # counted by a grab pass
    assert info.fps == pytest.approx(30.0)  # from the stream header via PyAV
    assert info.duration_s == pytest.approx(4.0)


def test_overlapping_windows_decode_each_frame_once(
    coded_clip: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    decoded: list[int] = []
    real = decode._convert

    def counting(bgr: np.ndarray, edge: int | None) -> np.ndarray:
        out = real(bgr, edge)
        decoded.append(read_frame_code(out))
        return out

    monkeypatch.setattr(decode, "_convert", counting)
    info = probe.probe(coded_clip)
    # 1 s windows with 0.5 s overlap, 3 frames each: neighbours share a frame
    windows = [[s, s + 15, s + 29] for s in range(0, 91, 15)]
    got = dict(decode.iter_windows(info, windows))
    assert sorted(got) == list(range(len(windows)))
    for number, window in enumerate(windows):
        assert [read_frame_code(f.image) for f in got[number]] == window
        assert [f.index for f in got[number]] == window
    union = sorted({i for w in windows for i in w})
    assert decoded == union  # in order, each frame once


def test_sparse_and_dense_requests_mix_seeking_and_decoding_forward(tmp_path: Path) -> None:
    clip = write_sample_video(tmp_path / "long.mp4", seconds=40, fps=30, size=(64, 48), coded=True)
    info = probe.probe(clip)
    indices = [3, 4, 5, 100, 101, 700, 1150, 1151, 1199]
    got = decode.sample(info, indices)
    assert [f.index for f in got] == indices
    assert [read_frame_code(f.image) for f in got] == [i % 256 for i in indices]


@pytest.mark.parametrize(
    ("position", "target", "keyframes", "expected"),
    [
        (100, 150, [0, 48, 96, 144], True),  # the target's keyframe lies ahead: seek
        (100, 140, [0, 48, 96, 144], False),  # its keyframe is behind us: decode forward
        (140, 150, [0, 48, 96, 144], False),  # a seek would save fewer frames than it costs
        (150, 100, [0, 48, 96, 144], True),  # going back always seeks
        (0, 121, None, True),  # no keyframe positions: the measured crossover decides
        (0, 120, None, False),
    ],
)
def test_seek_or_grab(
    position: int, target: int, keyframes: list[int] | None, expected: bool
) -> None:
    assert decode._should_seek(position, target, 120, keyframes) is expected
