"""Ctrl-C during model load, generation and a highlights run (then resume), and two runs
writing into one folder at once: exit codes, messages, and the files left on disk."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from chronicon_mlx.backends.mlx_backend import MLXBackend
from chronicon_mlx.cli.app import app
from chronicon_mlx.media.synthetic import write_sample_video

pytestmark = pytest.mark.slow
Files = Callable[[Path], list[str]]


@pytest.fixture(scope="module")
def long_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """5 minutes at 10 fps: with 10 s windows, 30 windows to score."""
    return write_sample_video(
        tmp_path_factory.mktemp("long") / "long clip.mp4", seconds=300, fps=10, size=(96, 64)
    )


def _interrupt(*args: object, **kwargs: object) -> None:
    raise KeyboardInterrupt  # what Python's SIGINT handler raises where the signal lands


@pytest.mark.parametrize("where", ["load", "generate"])
@pytest.mark.parametrize("command", ["analyze", "highlights"])
def test_ctrl_c_during_load_or_generation(
    runner: CliRunner,
    tiny_model: Path,
    ball_clip: Path,
    in_tmp: Path,
    files_under: Files,
    monkeypatch: pytest.MonkeyPatch,
    where: str,
    command: str,
) -> None:
    monkeypatch.setattr(MLXBackend, where, _interrupt)
    result = runner.invoke(app, [command, str(ball_clip), "-m", str(tiny_model), "-b", "mlx"])
    assert result.exit_code == 130
    assert "interrupted" in result.stderr and "Traceback" not in result.output
    left = files_under(in_tmp)
    if command == "analyze":
        assert left == []
    else:  # only the checkpoint header: nothing half-written, and the lock is gone
        assert left == ["results/ball clip_highlights/checkpoint.jsonl"]
        lines = (in_tmp / "results/ball clip_highlights/checkpoint.jsonl").read_text().splitlines()
        assert len(lines) == 1 and "key" in json.loads(lines[0])


def _default_sigint() -> None:
    """Children of a background job inherit an ignored SIGINT; a user's terminal does not."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _command(clip: Path, model: Path, folder: Path) -> list[str]:
    return [
        sys.executable,
        "-m",
        "chronicon_mlx",
        "highlights",
        str(clip),
        "-m",
        str(model),
        "-b",
        "mlx",
        "--window",
        "10",
        "--overlap",
        "0",
        "--frames-per-window",
        "3",
        "--min-significance",
        "1",
        "-o",
        str(folder),
        "--json",
    ]


def test_sigint_during_highlights_then_resume(
    tiny_model: Path, long_clip: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "interrupted"
    checkpoint = folder / "checkpoint.jsonl"
    proc = subprocess.Popen(
        _command(long_clip, tiny_model, folder),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=_default_sigint,
    )
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and proc.poll() is None:
        if checkpoint.is_file() and len(checkpoint.read_text().splitlines()) >= 4:
            break
        time.sleep(0.05)
    assert proc.poll() is None, "the run ended before it could be interrupted"
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "interrupted" in err and "Traceback" not in err
    lines = checkpoint.read_text().splitlines()
    done = [json.loads(line)["window"] for line in lines[1:]]
    assert 3 <= len(done) < 30 and done == list(range(len(done)))
    assert not (folder / "long clip_highlights.json").exists()
    resumed = subprocess.run(
        _command(long_clip, tiny_model, folder), capture_output=True, text=True, timeout=300
    )
    assert resumed.returncode == 0, resumed.stderr
    assert f"{len(done)} of 30 windows already done" in resumed.stderr
    whole = subprocess.run(
        _command(long_clip, tiny_model, tmp_path / "whole"),
        capture_output=True,
        text=True,
        timeout=300,
    )
    a, b = json.loads(resumed.stdout), json.loads(whole.stdout)
    assert a["counts"]["resumed"] == len(done) and b["counts"]["resumed"] == 0
    assert a["windows"] == b["windows"] and a["highlights"] == b["highlights"]


def test_two_highlights_runs_into_one_folder(
    tiny_model: Path, long_clip: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "shared"
    procs = [
        subprocess.Popen(
            _command(long_clip, tiny_model, folder),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    outputs = [p.communicate(timeout=300) for p in procs]
    codes = sorted(p.returncode for p in procs)
    assert codes == [0, 1], outputs
    loser = next(err for p, (_, err) in zip(procs, outputs, strict=True) if p.returncode == 1)
    assert f"another run is writing into {folder}" in loser and "hint:" in loser
    lines = (folder / "checkpoint.jsonl").read_text().splitlines()
    windows = [json.loads(line)["window"] for line in lines[1:]]
    assert windows == list(range(30))
    record = json.loads((folder / "long clip_highlights.json").read_text())
    assert record["counts"]["windows"] == 30 and record["counts"]["resumed"] == 0


def test_two_analyze_runs_into_one_folder(
    tiny_model: Path, ball_clip: Path, tmp_path: Path, files_under: Files
) -> None:
    folder = tmp_path / "shared"
    folder.mkdir()
    command = [
        sys.executable,
        "-m",
        "chronicon_mlx",
        "analyze",
        str(ball_clip),
        "-m",
        str(tiny_model),
        "-b",
        "mlx",
        "-t",
        "4",
        "-o",
        str(folder),
    ]
    procs = [subprocess.Popen(command, stderr=subprocess.PIPE, text=True) for _ in range(3)]
    for proc in procs:
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err
    names = files_under(folder)
    assert len(names) == 3 and all(n.startswith("ball clip_") for n in names)
    for name in names:
        assert json.loads((folder / name).read_text())["video_path"] == str(ball_clip)
