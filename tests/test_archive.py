"""Archives on Ray: records identical to a local run, the manifest, resume, a bad file, a
worker killed with SIGKILL mid-run, highlights, and the error without the ray extra."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from chronicon_mlx.analysis.cached import HIT_NOTE
from chronicon_mlx.archive.manifest import output_names
from chronicon_mlx.cli.app import app
from chronicon_mlx.cli.common import with_optional_values
from chronicon_mlx.media.synthetic import write_sample_video

RAY_SKIP = "needs Ray with Ray Data (pip install 'chronicon-mlx[ray]'; make test installs it)"
try:
    import ray.data  # noqa: F401

    HAVE_RAY = True
except ImportError:
    HAVE_RAY = False
needs_ray = pytest.mark.skipif(not HAVE_RAY, reason=RAY_SKIP)

# What differs between two runs of the same work: when it ran and how fast.
TIMING = {"timestamp", "timing", "peak_memory_gb"}
RATES = {"prompt_tps", "generation_tps"}
CACHE_HIT = HIT_NOTE.format(what="").strip()


def _content(record: dict[str, Any]) -> dict[str, Any]:
    """What a run's record says, less when it ran, how fast, and whether the video cache
    served it (a worker killed after caching a video leaves it to the next one)."""
    kept = {k: v for k, v in record.items() if k not in TIMING}
    kept["tokens"] = {k: v for k, v in record["tokens"].items() if k not in RATES}
    kept["notes"] = [note for note in record["notes"] if not note.endswith(CACHE_HIT)]
    return kept


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """12 short videos, each its own content, 2 of them bad (not a video; empty)."""
    root = tmp_path_factory.mktemp("archive")
    for n in range(10):
        size = (96 + 8 * n, 64)
        write_sample_video(root / f"clip{n:02d}.mp4", seconds=1 + n % 3, fps=10, size=size)
    (root / "bad-text.mp4").write_text("not a video\n")
    (root / "bad-empty.mp4").write_bytes(b"")
    return root


def _env(cwd: Path, name: str) -> dict[str, str]:
    """The environment of a run with its own video cache (a video another run cached would
    be read from it, and its record would say so in its notes)."""
    return {**os.environ, "CHRONICON_VIDEO_CACHE": str(cwd / f"{name}-cache")}


def _cli(*args: str, cwd: Path, name: str = "run") -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "chronicon_mlx", *args]
    return subprocess.run(
        command, capture_output=True, text=True, cwd=cwd, timeout=600, env=_env(cwd, name)
    )


def _popen(*args: str, cwd: Path, name: str) -> subprocess.Popen[str]:
    command = [sys.executable, "-m", "chronicon_mlx", *args]
    return subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=cwd,
        env=_env(cwd, name),
    )


def _manifest(folder: Path) -> list[dict[str, Any]]:
    path = folder / "manifest.jsonl"
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _parent(pid: int) -> int:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0
    return int(stat.rsplit(")", 1)[1].split()[1])


def _workers(driver: int) -> set[int]:
    """The pids of the Ray Data map workers that `driver` started (its descendants: other
    tests may run Ray at the same time)."""
    listing = subprocess.run(["ps", "-eo", "pid=,args="], capture_output=True, text=True).stdout
    found = set()
    for row in listing.splitlines():
        if "MapWorker" not in row:
            continue
        pid = ancestor = int(row.split()[0])
        while ancestor > 1 and ancestor != driver:
            ancestor = _parent(ancestor)
        if ancestor == driver:
            found.add(pid)
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_ray_alone_takes_no_address() -> None:
    assert with_optional_values(["a.mp4", "--ray"]) == ["a.mp4", "--ray=local"]
    assert with_optional_values(["--ray", "--workers", "2"]) == ["--ray=local", "--workers", "2"]
    assert with_optional_values(["--ray", "auto", "a"]) == ["--ray", "auto", "a"]
    assert with_optional_values(["--ray", "10.0.0.5:6379"]) == ["--ray", "10.0.0.5:6379"]
    assert with_optional_values(["--", "--ray"]) == ["--", "--ray"]


def test_ray_folder_the_video_is_not_an_address(tmp_path: Path) -> None:
    (tmp_path / "videos").mkdir()
    args = ["--ray", str(tmp_path / "videos")]
    assert with_optional_values(args) == ["--ray=local", str(tmp_path / "videos")]


def test_output_names_are_stable_and_distinct(tmp_path: Path) -> None:
    videos = [tmp_path / "a" / "clip.mp4", tmp_path / "b" / "clip.mp4", tmp_path / "c.mp4"]
    names = output_names(videos, tmp_path / "out", "analyze")
    assert names == output_names(videos, tmp_path / "out", "analyze")
    assert len(set(names)) == 3 and names[2] == tmp_path / "out" / "c.json"
    assert all(n.name.startswith("clip-") and n.suffix == ".json" for n in names[:2])
    folders = output_names(videos[2:], tmp_path / "out", "highlights")
    assert folders == [tmp_path / "out" / "c_highlights"]


def test_missing_extra_is_one_line_with_the_install_command(
    runner: CliRunner, ball_clip: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)
    monkeypatch.setitem(sys.modules, "ray.data", None)
    for command in ("analyze", "highlights"):
        result = runner.invoke(app, [command, str(ball_clip), "--ray", "-o", str(tmp_path)])
        assert result.exit_code == 2, result.output
        assert "error: --ray needs Ray" in result.output
        assert "pip install 'chronicon-mlx[ray]'" in result.output
        assert "Traceback" not in result.output
    assert not (tmp_path / "manifest.jsonl").exists()


def test_workers_below_one_is_refused(runner: CliRunner, ball_clip: Path, tmp_path: Path) -> None:
    if not HAVE_RAY:
        pytest.skip(RAY_SKIP)
    result = runner.invoke(
        app, ["analyze", str(ball_clip), "--ray", "--workers", "0", "-o", str(tmp_path)]
    )
    assert result.exit_code == 2
    assert "--workers must be at least 1" in result.output


@needs_ray
@pytest.mark.ray
@pytest.mark.slow
def test_archive_matches_a_local_run_survives_a_killed_worker_and_resumes(
    archive: Path, tiny_model: Path, tmp_path: Path
) -> None:
    flags = ["--model", str(tiny_model), "--frames", "4", "--max-tokens", "1500"]
    local = _cli(
        "analyze", str(archive), *flags, "-o", str(tmp_path / "local"), cwd=tmp_path, name="local"
    )
    assert local.returncode == 1, local.stderr
    expected = {}
    for path in (tmp_path / "local").glob("*.json"):
        record = json.loads(path.read_text())
        expected[record["video_path"]] = _content(record)
    assert len(expected) == 10

    out = tmp_path / "ray"
    run = _popen(
        "analyze",
        str(archive),
        "--ray",
        "--workers",
        "2",
        *flags,
        "-o",
        str(out),
        cwd=tmp_path,
        name="ray",
    )
    deadline, killed = time.monotonic() + 300, None
    while killed is None and run.poll() is None and time.monotonic() < deadline:
        if 3 <= len(_manifest(out)) <= 7 and len(pids := _workers(run.pid)) == 2:
            killed = min(pids)
            os.kill(killed, signal.SIGKILL)
        time.sleep(0.05)
    _, stderr = run.communicate(timeout=300)
    assert killed is not None, "no worker was killed: " + stderr
    assert run.returncode == 1, stderr
    assert "2 of 12 videos failed" in stderr
    assert "Traceback" not in stderr

    lines = _manifest(out)
    assert len(lines) == 12
    status = {Path(line["video"]).name: line["status"] for line in lines}
    assert status.pop("bad-text.mp4") == "failed" and status.pop("bad-empty.mp4") == "failed"
    assert set(status.values()) == {"ok"}
    # The videos left when a worker died (3 to 7 were done) were all finished, by the
    # other worker or by the one Ray started in its place.
    assert not Path(f"/proc/{killed}").exists()
    workers = {int(line["worker"].rsplit(":", 1)[1]) for line in lines}
    assert workers - {killed}
    got = {}
    for line in lines:
        if line["status"] == "ok":
            record = json.loads(Path(line["output"]).read_text())
            got[record["video_path"]] = _content(record)
    assert got == expected
    assert sorted(p.name for p in out.iterdir()) == sorted(
        [f"clip{n:02d}.json" for n in range(10)] + ["manifest.jsonl"]
    )  # no temporary file, no attempt count, no lock left

    again = _cli(
        "analyze",
        str(archive),
        "--ray",
        "--workers",
        "2",
        *flags,
        "-o",
        str(out),
        cwd=tmp_path,
        name="ray",
    )
    assert again.returncode == 1
    assert "10 done and 2 failed" in again.stderr
    assert "starting" not in again.stderr  # Ray is not even started
    assert len(_manifest(out)) == 12
    assert "clip00.mp4" in again.stdout and "failed" in again.stdout  # the summary


@needs_ray
@pytest.mark.ray
@pytest.mark.slow
def test_highlights_archive_matches_a_local_run(tiny_model: Path, tmp_path: Path) -> None:
    videos = tmp_path / "videos"
    videos.mkdir()
    for n in range(2):
        write_sample_video(videos / f"match{n}.mp4", seconds=12, fps=10, size=(96 + 8 * n, 64))
    (videos / "broken.mp4").write_text("no\n")
    flags = [
        "--model",
        str(tiny_model),
        "--window",
        "4",
        "--overlap",
        "1",
        "--frames-per-window",
        "2",
        "--format",
        "json,md,html",
    ]
    local = _cli(
        "highlights", str(videos), *flags, "-o", str(tmp_path / "local"), cwd=tmp_path, name="local"
    )
    assert local.returncode == 1, local.stderr
    out = tmp_path / "ray"
    library = tmp_path / "library.db"
    run = _cli(
        "highlights",
        str(videos),
        "--ray",
        *flags,
        "-o",
        str(out),
        "--library",
        str(library),
        "--json",
        cwd=tmp_path,
    )
    assert run.returncode == 1, run.stderr
    printed = json.loads(run.stdout)
    assert [Path(r["video_path"]).name for r in printed] == ["match0.mp4", "match1.mp4"]
    for n in range(2):
        name = f"match{n}_highlights"
        mine = json.loads((out / name / f"match{n}_highlights.json").read_text())
        theirs = json.loads((tmp_path / "local" / name / f"match{n}_highlights.json").read_text())
        for report in (mine, theirs):
            assert report.pop("timestamp") and report.pop("timing")
        assert mine == theirs
        assert (out / name / f"match{n}_highlights.html").is_file()
        stored = sqlite3.connect(library).execute(
            "SELECT start_s, end_s, significance, description FROM moments"
            " JOIN passes ON passes.id = moments.pass JOIN videos ON videos.id = passes.video"
            " WHERE videos.path = ? ORDER BY start_s",
            (mine["video_path"],),
        )
        described = [w for w in mine["windows"] if w["description"] is not None]
        assert stored.fetchall() == [
            (w["start_s"], w["end_s"], w["significance"], w["description"]) for w in described
        ]  # written by the driver from the workers' records
    lines = _manifest(out)
    assert sorted((Path(x["video"]).name, x["status"]) for x in lines) == [
        ("broken.mp4", "failed"),
        ("match0.mp4", "ok"),
        ("match1.mp4", "ok"),
    ]

    fresh = _cli(
        "highlights", str(videos), "--ray", *flags, "-o", str(out), "--fresh", cwd=tmp_path
    )
    assert fresh.returncode == 1
    assert len(_manifest(out)) == 6  # every video again, appended


@needs_ray
@pytest.mark.ray
@pytest.mark.slow
def test_ctrl_c_stops_the_workers_and_leaves_only_complete_records(
    archive: Path, tiny_model: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    flags = ["--model", str(tiny_model), "--frames", "4", "--max-tokens", "3000"]
    run = _popen("analyze", str(archive), "--ray", *flags, "-o", str(out), cwd=tmp_path, name="ray")
    deadline, workers = time.monotonic() + 300, set()
    while run.poll() is None and time.monotonic() < deadline:
        workers = _workers(run.pid) or workers
        if len(_manifest(out)) >= 3:
            break
        time.sleep(0.05)
    assert run.poll() is None and workers, "the run ended before it could be interrupted"
    run.send_signal(signal.SIGINT)
    _, stderr = run.communicate(timeout=120)
    assert run.returncode == 130, stderr
    assert "interrupted" in stderr and "Traceback" not in stderr
    grace = time.monotonic() + 30
    while any(_alive(pid) for pid in workers) and time.monotonic() < grace:
        time.sleep(0.2)
    assert not any(_alive(pid) for pid in workers)
    lines = _manifest(out)
    assert 3 <= len(lines) < 12
    records = sorted(out.glob("*.json"))
    assert records, "no record finished before Ctrl-C"
    for path in records:
        assert json.loads(path.read_text())["video_path"].endswith(path.stem + ".mp4")
    done = {Path(line["output"]).name for line in lines if line["status"] == "ok"}
    assert done <= {path.name for path in records}
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # no temp file, no lock


def test_no_save_cannot_go_with_ray(runner: CliRunner, ball_clip: Path, tmp_path: Path) -> None:
    result = runner.invoke(app, ["analyze", str(ball_clip), "--ray", "--no-save"])
    assert result.exit_code == 2
    assert "error: --no-save cannot go with --ray" in result.output
