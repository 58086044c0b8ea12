"""Real-world files, written by PyAV's encoders: codecs, frame rates, rotation, odd sizes,
damage. Each works exactly or fails with a clear message."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from chronicon_mlx.errors import VideoError
from chronicon_mlx.media import decode, plan, probe, pyav
from chronicon_mlx.media.synthetic import read_frame_code, write_audio_only, write_av_video

VFR_TIMES = [0.0, 0.1, 0.2, 1.0, 1.05, 2.5, 2.6, 2.7, 4.0, 4.5, 4.52, 4.54, 6.0]


@pytest.mark.parametrize(
    ("codec", "size", "fps", "frames"),
    [
        ("libx264", (1280, 720), 30, 45),
        ("libx265", (640, 360), 30, 30),
        ("libx264", (1920, 1080), 60, 60),
    ],
)
def test_codecs_and_sizes_are_exact(
    tmp_path: Path, codec: str, size: tuple[int, int], fps: int, frames: int
) -> None:
    clip = write_av_video(tmp_path / "clip.mp4", size=size, fps=fps, frames=frames, codec=codec)
    info = probe.probe(clip)
    assert (info.width, info.height, info.frame_count) == (*size, frames)
    assert info.fps == pytest.approx(fps)
    assert not info.variable_frame_rate
    indices = plan.plan(info, 0, frames, 6)
    got = decode.sample(info, indices, longest_edge=256)
    assert [read_frame_code(f.image) for f in got] == indices
    assert [f.timestamp_s for f in got] == pytest.approx([i / fps for i in indices], abs=2e-3)
    assert max(got[0].image.shape[:2]) == 256


def test_variable_frame_rate_uses_true_presentation_times(tmp_path: Path) -> None:
    clip = write_av_video(tmp_path / "vfr.mp4", size=(160, 120), times=VFR_TIMES)
    info = probe.probe(clip)
    assert info.variable_frame_rate and info.frame_count == len(VFR_TIMES)
    assert decode.decoder_for(info) == "pyav"
    indices = plan.plan(info, 0, info.frame_count, 4)
    got = decode.sample(info, indices)
    assert [read_frame_code(f.image) for f in got] == [f.index for f in got] == indices
    assert [f.timestamp_s for f in got] == pytest.approx([VFR_TIMES[i] for i in indices])
    # spread over time, not over frame numbers: the burst at 4.5 s gets one frame, not three
    assert indices == [2, 4, 8, 11]  # the frames on screen at 0.81, 2.44, 4.06, 5.69 s


@pytest.mark.parametrize("rotation", [90, 270])
def test_rotation_metadata_gives_upright_frames(tmp_path: Path, rotation: int) -> None:
    import cv2

    clip = write_av_video(tmp_path / "phone.mp4", size=(160, 96), frames=10, rotation=rotation)
    info = probe.probe(clip)
    assert (info.width, info.height) == (96, 160)
    (opencv_frame,) = decode.sample(info, [4])
    assert opencv_frame.image.shape == (160, 96, 3)
    rotated = next(pyav.decode_times(clip, [4 / 30]))[1]
    assert rotated.shape == (160, 96, 3)
    difference = cv2.absdiff(rotated, opencv_frame.image).mean()
    assert difference < 8, "PyAV and OpenCV must turn the frame the same way"


def test_keyframe_mode_reports_true_times(tmp_path: Path) -> None:
    clip = write_av_video(tmp_path / "gop.mp4", size=(160, 96), frames=240, gop=48)
    info = probe.probe(clip)
    index = pyav.build_index(clip)
    wanted = plan.plan(info, 0, info.frame_count, 4, seek="keyframe")
    assert wanted == [30, 90, 150, 210]
    got = decode.sample(info, wanted, seek="keyframe")
    nearest = sorted({index.nearest_keyframe(i / 30) for i in wanted})
    assert [f.index for f in got] == nearest == [48, 96, 144, 192]
    assert [read_frame_code(f.image) for f in got] == nearest
    assert [f.timestamp_s for f in got] == pytest.approx([i / 30 for i in nearest], abs=2e-3)
    # Two wanted times nearest the same keyframe give it once.
    assert [f.index for f in decode.sample(info, [100, 110], seek="keyframe")] == [96]


@pytest.mark.parametrize(
    ("size", "pix_fmt"), [((1, 1), "yuv444p"), ((2, 2), "yuv420p"), ((4, 64), "yuv420p")]
)
def test_tiny_frames(tmp_path: Path, size: tuple[int, int], pix_fmt: str) -> None:
    clip = write_av_video(tmp_path / "tiny.mp4", size=size, frames=8, pix_fmt=pix_fmt)
    info = probe.probe(clip)
    got = decode.sample(info, plan.plan(info, 0, info.frame_count, 3))
    assert [f.image.shape for f in got] == [(size[1], size[0], 3)] * 3


def test_one_pixel_video_runs_through_the_model(tmp_path: Path, tiny_model: Path) -> None:
    import json

    from typer.testing import CliRunner

    from chronicon_mlx.cli.app import app

    clip = write_av_video(tmp_path / "dot.mp4", size=(1, 1), frames=6, pix_fmt="yuv444p")
    result = CliRunner().invoke(
        app, ["analyze", str(clip), "-m", str(tiny_model), "-t", "2", "--json", "--no-save"]
    )
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout)
    assert (record["video_info"]["width"], record["num_frames"]) == (1, 6)


@pytest.mark.slow
def test_8k_frames_are_shrunk_with_their_aspect_ratio(tmp_path: Path) -> None:
    clip = write_av_video(tmp_path / "8k.mp4", size=(7680, 4320), frames=3)
    info = probe.probe(clip)
    assert (info.width, info.height) == (7680, 4320)
    got = decode.sample(info, [0, 1, 2], longest_edge=512)
    assert [f.image.shape for f in got] == [(288, 512, 3)] * 3
    assert [read_frame_code(f.image) for f in got] == [0, 1, 2]


def test_audio_only_is_refused(tmp_path: Path) -> None:
    with pytest.raises(VideoError, match="has no video stream \\(it holds only audio\\)"):
        probe.probe(write_audio_only(tmp_path / "voice.mp4"))


def test_truncated_faststart_file_keeps_the_frames_that_decode(tmp_path: Path) -> None:
    clip = write_av_video(tmp_path / "full.mp4", size=(160, 96), frames=90)
    data = clip.read_bytes()
    moov, mdat = data.find(b"moov"), data.find(b"mdat")
    assert moov > mdat  # PyAV writes moov last: cutting the file loses the index entirely
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) * 2 // 3])
    with pytest.raises(VideoError, match="damaged, truncated"):
        probe.probe(cut)


def test_truncated_file_with_its_index_first_keeps_what_decodes(
    tmp_path: Path, tiny_model: Path
) -> None:
    import json

    from typer.testing import CliRunner

    from chronicon_mlx.cli.app import app

    clip = write_av_video(tmp_path / "full.mp4", size=(160, 96), frames=90, faststart=True)
    data = clip.read_bytes()
    assert data.find(b"moov") < data.find(b"mdat")
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) // 2])
    result = CliRunner().invoke(
        app,
        [
            "analyze",
            str(cut),
            "-m",
            str(tiny_model),
            "-f",
            "6",
            "-t",
            "2",
            "--json",
            "--no-save",
            "--backend",
            "mlx",
        ],
    )
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout)
    kept = [f["index"] for f in record["frames"]]
    assert 0 < len(kept) < 6 and kept == [7, 22, 37, 52, 67, 82][: len(kept)]
    lost = 6 - len(kept)
    assert f"using {len(kept)} of 6 requested frames: {lost} frames could not be decoded" in (
        result.stderr
    )


def test_black_frames_are_fine(tmp_path: Path) -> None:
    import cv2

    path = tmp_path / "black.mp4"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"mp4v"), 10, (64, 48))
    for _ in range(20):
        writer.write(np.zeros((48, 64, 3), np.uint8))
    writer.release()
    info = probe.probe(path)
    got = decode.sample(info, plan.plan(info, 0, info.frame_count, 4))
    assert len(got) == 4 and all(int(f.image.max()) <= 16 for f in got)


def test_keyframe_aware_choice_is_exact(tmp_path: Path) -> None:
    clip = write_av_video(tmp_path / "gop.mp4", size=(64, 48), frames=1200, gop=48)
    info = probe.probe(clip)
    wanted = list(range(5, 1200, 70))
    assert decode._keyframes_if_useful(info, wanted) == list(range(0, 1200, 48))
    assert decode._keyframes_if_useful(info, [5, 9, 12]) is None  # close together: grab
    got = decode.sample(info, wanted)
    assert [f.index for f in got] == wanted
    assert [read_frame_code(f.image) for f in got] == [i % 256 for i in wanted]
