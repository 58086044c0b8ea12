"""Second round, class 6 (small traps): a window plan of weeks accepted silently, a question
that starts with `/`, a killed checkpoint build left behind, a silent SIGTERM that left the
lock, and a torn manifest line that swallowed the next run's first line."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from chronicon_mlx.archive.jobs import Outcome
from chronicon_mlx.archive.manifest import Manifest
from chronicon_mlx.cli.app import app
from chronicon_mlx.errors import UsageError
from chronicon_mlx.highlight.params import HighlightsConfig, check_window_count
from chronicon_mlx.media.synthetic import write_sample_video
from chronicon_mlx.model.random_weights import cached_checkpoint

pytestmark = pytest.mark.slow


def test_a_window_plan_of_weeks_is_refused_with_its_cost(
    runner: CliRunner, tiny_model: Path, tmp_path: Path
) -> None:
    """`--window 0.05` on a 10-hour video was accepted: 720,000 windows, about two weeks."""
    with pytest.raises(UsageError, match=r"make 720,000 windows over 10\.0 hours"):
        check_window_count(36_000, HighlightsConfig(window_s=0.05, overlap_s=0))
    check_window_count(36_000, HighlightsConfig(window_s=2, overlap_s=0))  # 18,000: allowed
    clip = write_sample_video(tmp_path / "long.mp4", seconds=1100, fps=1, size=(32, 24))
    args = ["highlights", str(clip), "-m", str(tiny_model), "--window", "0.05", "--overlap", "0"]
    done = runner.invoke(app, [*args, "-o", str(tmp_path / "out")])
    assert done.exit_code == 2
    assert "--window 0.05 and --overlap 0 make 22,000 windows" in done.stderr
    assert "Load model" not in done.stderr


def test_a_question_that_starts_with_a_slash_can_be_asked(
    runner: CliRunner, tiny_model: Path, ball_clip: Path
) -> None:
    args = ["chat", str(ball_clip), "-m", str(tiny_model), "-b", "mlx", "--frames", "2"]
    done = runner.invoke(app, [*args, "--max-tokens", "3", "--json"], input="//etc/hosts?\n/etc\n")
    turns = [json.loads(line) for line in done.stdout.splitlines()]
    assert [t["prompt"] for t in turns] == ["/etc/hosts?"]
    assert "unknown command '/etc'" in done.stderr and "//..." in done.stderr


def test_a_killed_checkpoint_build_is_cleared_by_the_next(tmp_path: Path) -> None:
    """A killed first build of a `-random` checkpoint left its temporary folder for good
    (gigabytes for `2.2b-random`)."""
    root = tmp_path / "cache"
    folder = cached_checkpoint("tiny", seed=7, root=root)
    import shutil

    shutil.rmtree(folder)
    left = folder.with_name(f".{folder.name}.k2j4x9z1")
    left.mkdir()
    (left / "model.safetensors").write_bytes(b"half of it")
    again = cached_checkpoint("tiny", seed=7, root=root)
    assert again == folder and (folder / "model.safetensors").is_file()
    assert not left.exists() and (root / "checkpoints" / f".{folder.name}.lock").is_file()


def test_sigterm_says_so_and_releases_the_folder(tiny_model: Path, tmp_path: Path) -> None:
    """SIGTERM printed nothing and left `.lock`."""
    clip = write_sample_video(tmp_path / "long clip.mp4", seconds=120, fps=10, size=(96, 64))
    folder = tmp_path / "out"
    code = (
        "import sys; from chronicon_mlx.cli.app import main; sys.argv[0] = 'chronicon-mlx'; main()"
    )
    args = ["highlights", str(clip), "-m", str(tiny_model), "-b", "mlx", "--window", "4"]
    proc = subprocess.Popen(
        [sys.executable, "-c", code, *args, "--overlap", "0", "-o", str(folder)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    checkpoint = folder / "checkpoint.jsonl"
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and proc.poll() is None:
        if checkpoint.is_file() and len(checkpoint.read_text().splitlines()) >= 3:
            break
        time.sleep(0.05)
    assert proc.poll() is None, "the run ended before it could be stopped"
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 143, err
    assert "terminated" in err and "Traceback" not in err
    assert not (folder / ".lock").exists()


def test_a_torn_manifest_line_is_repaired_before_the_next_append(tmp_path: Path) -> None:
    """A torn last line swallowed the next run's first line: a finished video read "not
    run" and was redone forever."""
    from chronicon_mlx.analysis.params import GenerationConfig, SamplingConfig
    from chronicon_mlx.analysis.spec import SessionSpec
    from chronicon_mlx.archive.jobs import AnalyzeJob

    manifest = Manifest(tmp_path)
    job = AnalyzeJob(SessionSpec("tiny-random"), None, None, SamplingConfig(), GenerationConfig())
    video = tmp_path / "a.mp4"
    video.write_bytes(b"x")
    manifest.append(job, video, Outcome(str(video), "failed", None, 1.0, error="bad"))
    with manifest.path.open("ab") as handle:
        handle.write(b'{"command": "analyze", "video": "/b.mp4", "sta')  # killed mid-write
    manifest.repair()
    manifest.append(job, video, Outcome(str(video), "ok", str(tmp_path / "a.json"), 2.0))
    entries = manifest.entries()
    assert [e.status for e in entries] == ["failed", "ok"]
    assert manifest.path.read_bytes().count(b"\n") == 2
