"""Second round, class 1 (security): folders the tool writes into are trusted too much. What
the tool reads back from its own folders is checked, and a link, a FIFO or a device planted
at any depth of them is never followed, read or written through."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

import pytest
from typer.testing import CliRunner

from chronicon_mlx.analysis.params import GenerationConfig, SamplingConfig
from chronicon_mlx.analysis.spec import SessionSpec
from chronicon_mlx.archive import run as archive
from chronicon_mlx.archive.jobs import AnalyzeJob
from chronicon_mlx.archive.manifest import Manifest
from chronicon_mlx.archive.ray_pool import _count_attempt, attempts_path
from chronicon_mlx.cli.app import app
from chronicon_mlx.errors import OutputError
from chronicon_mlx.media.synthetic import write_sample_video

pytestmark = pytest.mark.slow
HIGHLIGHTS = ["-b", "mlx", "--window", "1.5", "--overlap", "0", "--frames-per-window", "2"]


def _job(model: Path) -> AnalyzeJob:
    spec = SessionSpec(str(model), backend="mlx")
    return AnalyzeJob(spec, ["What moves?"], None, SamplingConfig(frames=2), GenerationConfig(4))


def _line(job: AnalyzeJob, video: Path, output: str, status: str = "ok") -> str:
    entry = {
        "command": "analyze",
        "video": str(video.absolute()),
        "status": status,
        "output": output,
        "seconds": 1.0,
        "error": None,
        "digest": job.digest(video),
        "finished_at": "2026-12-04T10:00:00+00:00",
        "retry": False,
        "worker": "host:1",
    }
    return json.dumps(entry) + "\n"


def test_a_manifest_line_pointing_at_another_file_is_not_trusted(
    tiny_model: Path, ball_clip: Path, tmp_path: Path
) -> None:
    """A line whose output is some other JSON file made a rerun skip the video and print
    that file: the output must be where the tool puts that video's record."""
    folder = tmp_path / "out"
    folder.mkdir()
    elsewhere = tmp_path / "secret.json"
    elsewhere.write_text('{"analysis": "not this video", "video_info": {}}')
    job = _job(tiny_model)
    (folder / "manifest.jsonl").write_text(_line(job, ball_clip, str(elsewhere)))
    work = archive.plan(job, [ball_clip], folder)
    assert work.todo == [0] and work.entries() == [None]
    record = folder / f"{ball_clip.stem}.json"
    record.write_text('{"analysis": "the right one"}')
    (folder / "manifest.jsonl").write_text(_line(job, ball_clip, str(record.absolute())))
    assert archive.plan(job, [ball_clip], folder).todo == []


def test_links_in_an_archive_folder_are_never_followed(
    tiny_model: Path, ball_clip: Path, tmp_path: Path
) -> None:
    """manifest.jsonl, `.<name>.json.attempts` and `<stem>_highlights/.attempts` planted as
    links: nothing is read or written through them."""
    folder = tmp_path / "out"
    folder.mkdir()
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me\n")
    os.symlink(victim, folder / "manifest.jsonl")
    job = _job(tiny_model)
    with pytest.raises(OutputError, match="is a symbolic link"):
        archive.plan(job, [ball_clip], folder)
    from chronicon_mlx.archive.jobs import Outcome

    with pytest.raises(OutputError, match="is a symbolic link"):
        Manifest(folder).append(job, ball_clip, Outcome(str(ball_clip), "ok", None, 1.0))
    record = folder / "v0.json"
    highlights = folder / "v0_highlights"
    highlights.mkdir()
    for marker in (attempts_path(record), attempts_path(highlights)):
        os.symlink(victim, marker)
        assert _count_attempt(marker) == 1
        assert victim.read_text() == "keep me\n"
        assert marker.is_file() and not marker.is_symlink()
        assert _count_attempt(marker) == 2


def test_a_thumbs_link_inside_a_highlights_folder_is_refused(
    runner: CliRunner, tiny_model: Path, ball_clip: Path, tmp_path: Path
) -> None:
    """A `thumbs` link one level down took the window thumbnails elsewhere."""
    folder = tmp_path / "report"
    folder.mkdir()
    target = tmp_path / "elsewhere"
    target.mkdir()
    os.symlink(target, folder / "thumbs")
    done = runner.invoke(
        app, ["highlights", str(ball_clip), "-m", str(tiny_model), *HIGHLIGHTS, "-o", str(folder)]
    )
    assert done.exit_code == 1
    assert "thumbs is a symbolic link" in done.stderr and "Traceback" not in done.output
    assert list(target.iterdir()) == []


def test_a_linked_video_folder_in_a_batch_is_refused(
    runner: CliRunner, tiny_model: Path, tmp_path: Path
) -> None:
    """A per-video folder under a batch's --output that is a link to somewhere else."""
    videos = tmp_path / "videos"
    for name in ("a", "b"):
        write_sample_video(videos / f"{name}.mp4", seconds=2, fps=10, size=(64, 48))
    out = tmp_path / "out"
    out.mkdir()
    target = tmp_path / "elsewhere"
    target.mkdir()
    os.symlink(target, out / "a_highlights")
    args = ["highlights", str(videos), "-m", str(tiny_model), *HIGHLIGHTS, "-o", str(out)]
    done = runner.invoke(app, args)
    assert done.exit_code == 1
    assert "a_highlights is a symbolic link" in done.stderr
    assert list(target.iterdir()) == [] and not (out / "b_highlights").exists()


def test_the_chat_history_is_never_followed_or_read_from_a_fifo(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`<cache>/chat_history` as a link (followed for reading and writing) or a FIFO (the
    chat hung before its first prompt)."""
    from chronicon_mlx.cli import chat

    monkeypatch.setenv("CHRONICON_CACHE", str(tmp_path / "cache"))
    history = tmp_path / "cache" / "chat_history"
    history.parent.mkdir()
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me\n")
    os.symlink(victim, history)
    assert chat._history() is None
    history.unlink()
    os.mkfifo(history)
    found: list[Path | None] = []
    reader = threading.Thread(target=lambda: found.append(chat._history()), daemon=True)
    reader.start()
    reader.join(timeout=5)
    assert found == [None], "reading the history waited on a FIFO"
    history.unlink()
    history.write_text("earlier question\n")
    path = chat._history()
    assert path == history
    history.unlink()
    os.symlink(victim, history)  # planted while the chat ran
    chat._save_history(history)
    assert victim.read_text() == "keep me\n"
    assert history.is_file() and not history.is_symlink()
