"""Second round, class 2 (data loss): files the tool did not write are never overwritten or
deleted. It replaces or removes only what it can prove it wrote, and never a name that
existed before a run unless --fresh says so."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from chronicon_mlx.analysis.params import GenerationConfig, SamplingConfig
from chronicon_mlx.analysis.spec import SessionSpec
from chronicon_mlx.analysis.videocache import VideoCache
from chronicon_mlx.archive import run as archive
from chronicon_mlx.archive.jobs import AnalyzeJob
from chronicon_mlx.archive.manifest import remove_leftovers
from chronicon_mlx.cli.app import app

pytestmark = pytest.mark.slow
HIGHLIGHTS = ["-b", "mlx", "--window", "1.5", "--overlap", "0", "--frames-per-window", "2"]


def test_an_archive_never_replaces_a_record_it_did_not_write(
    tiny_model: Path, ball_clip: Path, tmp_path: Path
) -> None:
    """`--ray` with `--output` on the videos' own folder replaced a user's `v0.json`."""
    videos = tmp_path / "videos"
    videos.mkdir()
    video = Path(shutil.copy(ball_clip, videos / "v0.mp4"))
    mine = videos / "v0.json"
    mine.write_text('{"my": "notes"}\n')
    spec = SessionSpec(str(tiny_model), backend="mlx")
    job = AnalyzeJob(spec, None, None, SamplingConfig(frames=2), GenerationConfig(max_tokens=4))
    work = archive.plan(job, [video], videos)
    assert work.todo == [0] and not work.may_write(0)
    with archive.holding(work):
        events = list(archive.run(work, address=None))
    (event,) = events
    assert isinstance(event, archive.Finished) and event.outcome.status == "failed"
    assert "exists and was not written by this tool" in (event.outcome.error or "")
    assert mine.read_text() == '{"my": "notes"}\n'
    assert work.entries()[0] is not None and work.entries()[0].retry  # type: ignore[union-attr]


def test_user_temporary_files_in_a_highlights_folder_stay(tmp_path: Path) -> None:
    """Cleaning what a killed worker left deleted every `.*.tmp` of the folder."""
    folder = tmp_path / "v0_highlights"
    (folder / "thumbs").mkdir(parents=True)
    mine = [folder / ".notes.txt.tmp", folder / "draft.tmp", folder / ".x.tmp"]
    mine.append(folder / "thumbs" / ".holiday.jpg.tmp")
    ours = [
        folder / ".checkpoint.jsonl.k2j4_x9z.tmp",
        folder / ".v0_highlights.json.abcdefgh.tmp",
        folder / "thumbs" / ".window-0003.jpg.0a1b2c3d.tmp",
        folder / ".attempts",
        folder / "..attempts.rj3couiz.tmp",
    ]
    for path in mine + ours:
        path.write_text("x")
    record = tmp_path / "v1.json"
    beside = [
        tmp_path / ".v1.json.k2j4_x9z.tmp",
        tmp_path / "..v1.json.attempts.rj3couiz.tmp",  # a killed count of attempts
        tmp_path / ".v2.json.k2j4_x9z.tmp",
        tmp_path / "..v2.json.attempts.rj3couiz.tmp",
    ]
    for path in beside:
        path.write_text("x")
    remove_leftovers([folder, record])
    assert all(path.exists() for path in mine) and not any(path.exists() for path in ours)
    assert [path.exists() for path in beside] == [False, False, True, True]


def test_reports_of_another_format_are_removed_only_when_the_tool_wrote_them(
    runner: CliRunner, tiny_model: Path, ball_clip: Path, tmp_path: Path
) -> None:
    """`highlights --format json` removed a user's own `<stem>_highlights.md/.html` as "an
    earlier run's format"; a report name that was the user's was overwritten."""
    folder = tmp_path / "report"
    stem = ball_clip.stem
    args = ["highlights", str(ball_clip), "-m", str(tiny_model), *HIGHLIGHTS, "-o", str(folder)]
    first = runner.invoke(app, [*args, "--format", "json,md"])
    assert first.exit_code == 0, first.output
    (folder / f"{stem}_highlights.html").write_text("<p>my own page</p>")
    second = runner.invoke(app, [*args, "--format", "json"])
    assert second.exit_code == 0, second.output
    assert not (folder / f"{stem}_highlights.md").exists()  # the tool's own, removed
    assert (folder / f"{stem}_highlights.html").read_text() == "<p>my own page</p>"
    taken = runner.invoke(app, [*args, "--format", "json,html"])
    assert taken.exit_code == 1
    assert "exists and was not written by this tool" in taken.stderr
    assert "Load model" not in taken.stderr
    assert (folder / f"{stem}_highlights.html").read_text() == "<p>my own page</p>"
    replaced = runner.invoke(app, [*args, "--format", "json,html", "--fresh"])
    assert replaced.exit_code == 0, replaced.output
    assert "<svg" in (folder / f"{stem}_highlights.html").read_text()


def test_the_video_cache_removes_only_its_own_entries(tmp_path: Path) -> None:
    """Cache trimming and `cache clear` deleted any `frames-*`/`prefix-*.safetensors`."""
    cache = VideoCache(tmp_path / "cache", 10**9)
    mine = [cache.root / "frames-holiday.safetensors", cache.root / "prefix-x.safetensors"]
    mine.append(cache.root / "notes.txt")
    for path in mine:
        path.write_bytes(b"mine")
    ours = cache.root / f"frames-{'a' * 40}.safetensors"
    ours.write_bytes(b"an entry")
    assert cache.info().entries == 1
    cache.clear()
    assert all(path.read_bytes() == b"mine" for path in mine) and not ours.exists()
