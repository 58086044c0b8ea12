"""Paths, read-only folders, full disks, sparse and black videos: exit codes, messages and
exactly the files left on disk."""

from __future__ import annotations

import contextlib
import errno
import json
import os
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from chronicon_mlx.cli.app import app
from chronicon_mlx.media.synthetic import write_sample_video

Files = Callable[[Path], list[str]]

pytestmark = pytest.mark.slow


def test_unicode_and_spaces_in_paths(
    runner: CliRunner, tiny_model: Path, in_tmp: Path, files_under: Files
) -> None:
    clip = write_sample_video(
        in_tmp / "vidéos à voir" / "clip été №1.mp4", seconds=2, fps=10, size=(64, 48)
    )
    out = in_tmp / "sorties ü" / "résultat 1.json"
    result = runner.invoke(
        app, ["analyze", str(clip), "-m", str(tiny_model), "-b", "mlx", "-t", "2", "-o", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert json.loads(out.read_text(encoding="utf-8"))["video_path"] == str(clip)
    folder = in_tmp / "reports ü"
    found = runner.invoke(
        app,
        [
            "highlights",
            str(clip),
            "-m",
            str(tiny_model),
            "-b",
            "mlx",
            "--window",
            "1",
            "--overlap",
            "0",
            "-o",
            str(folder),
            "--format",
            "json,html,srt",
        ],
    )
    assert found.exit_code == 0, found.output
    names = files_under(folder)
    assert "clip été №1_highlights.json" in names and "clip été №1_highlights.html" in names
    assert "clip été №1_highlights.srt" in names and "checkpoint.jsonl" in names


def test_read_only_output_folder(
    runner: CliRunner,
    tiny_model: Path,
    ball_clip: Path,
    in_tmp: Path,
    files_under: Files,
    read_only: Callable[[Path], contextlib.AbstractContextManager[None]],
) -> None:
    locked = in_tmp / "locked"
    locked.mkdir()
    (locked / "old.json").write_text("{}")
    with read_only(locked):
        analyzed = runner.invoke(
            app, ["analyze", str(ball_clip), "-m", str(tiny_model), "-o", str(locked / "new.json")]
        )
        found = runner.invoke(
            app, ["highlights", str(ball_clip), "-m", str(tiny_model), "-o", str(locked / "hl")]
        )
        many = runner.invoke(
            app,
            ["analyze", str(ball_clip), str(ball_clip), "-m", str(tiny_model), "-o", str(locked)],
        )
    for result in (analyzed, found, many):
        assert result.exit_code == 1, result.output
        assert "is not a writable folder" in result.stderr or "is not writable" in result.stderr
        assert "hint:" in result.stderr and "Traceback" not in result.output
    assert files_under(locked) == ["old.json"]
    assert not (in_tmp / "results").exists()


def test_full_disk_keeps_the_old_file(
    runner: CliRunner,
    tiny_model: Path,
    ball_clip: Path,
    in_tmp: Path,
    monkeypatch: pytest.MonkeyPatch,
    files_under: Files,
) -> None:
    out = in_tmp / "out" / "record.json"
    out.parent.mkdir()
    out.write_text('{"old": true}\n')

    def full(fd: int) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr("chronicon_mlx.files.os.fsync", full)
    result = runner.invoke(
        app,
        ["analyze", str(ball_clip), "-m", str(tiny_model), "-b", "mlx", "-t", "2", "-o", str(out)],
    )
    assert result.exit_code == 1
    assert "No space left on device" in result.stderr and "hint:" in result.stderr
    assert out.read_text() == '{"old": true}\n'
    assert files_under(out.parent) == ["record.json"]  # no temporary file left behind


def test_sparse_2gb_file_fails_fast(
    runner: CliRunner, tiny_model: Path, in_tmp: Path, files_under: Files
) -> None:
    sparse = in_tmp / "huge.mp4"
    with sparse.open("wb") as handle:
        handle.truncate(2 * 1024**3)
    start = time.perf_counter()
    result = runner.invoke(app, ["analyze", str(sparse), "-m", str(tiny_model)])
    elapsed = time.perf_counter() - start
    assert result.exit_code == 1
    assert "is not a video OpenCV can read" in result.stderr and "hint:" in result.stderr
    assert elapsed < 30, f"took {elapsed:.1f} s: the file was read, not probed"
    assert files_under(in_tmp) == ["huge.mp4"]


def test_all_black_video_works_and_claims_no_errors(
    runner: CliRunner, tiny_model: Path, in_tmp: Path
) -> None:
    import cv2
    import numpy as np

    path = in_tmp / "black.mp4"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"mp4v"), 10, (64, 48))
    for _ in range(30):
        writer.write(np.zeros((48, 64, 3), np.uint8))
    writer.release()
    for sampling in ("uniform", "scene"):
        args = ["-t", "2", "--sampling", sampling, "--json", "--no-save"]
        result = runner.invoke(app, ["analyze", str(path), "-m", str(tiny_model), *args])
        assert result.exit_code == 0, result.output
        record = json.loads(result.stdout)
        assert record["num_frames"] == 8
        text = (result.stderr + " ".join(record["notes"])).lower()
        for false_claim in ("error", "could not be decoded", "damaged", "truncated", "lost"):
            assert false_claim not in text


def test_bad_inputs_through_the_many_videos_path(
    runner: CliRunner,
    tiny_model: Path,
    bad_files: dict[str, Path],
    ball_clip: Path,
    in_tmp: Path,
    files_under: Files,
) -> None:
    cases = {
        "missing": "video not found",
        "text": "is not a video OpenCV can read",
        "png": "is a still PNG image, not a video",
        "png_as_mp4": "is a still PNG image, not a video",
        "empty": "is empty (0 bytes)",
        "truncated": "is not a video OpenCV can read",
        "undecodable": "has no decodable video frames",
    }
    videos = [str(bad_files[case]) for case in cases]
    for command in ("analyze", "highlights"):
        args = ["-m", str(tiny_model), "-b", "mlx", "-o", str(in_tmp / command)]
        result = runner.invoke(app, [command, str(ball_clip), *videos, *args])
        assert result.exit_code == 1, result.output
        for case, message in cases.items():
            line = next(
                x
                for x in result.stderr.splitlines()
                if x.startswith(f"error: {bad_files[case].name}: ")
            )
            assert message in line
        assert f"{len(cases)} of {len(cases) + 1} videos failed" in result.stderr
        assert "Traceback" not in result.output
    records = files_under(in_tmp / "analyze")
    assert len(records) == 1 and records[0].startswith("ball clip_")
    assert "ball clip_highlights/ball clip_highlights.json" in files_under(in_tmp / "highlights")
    bad_option = runner.invoke(app, ["analyze", str(ball_clip), str(ball_clip), "-f", "0"])
    assert bad_option.exit_code == 2 and "--frames must be between" in bad_option.stderr
