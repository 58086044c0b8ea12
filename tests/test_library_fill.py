"""Filling the library: `library add` (the highlights pass, skipped when done, two processes
at once), `library import` of earlier runs, `analyze --library`, and a database of the
previous schema migrated forward."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from chronicon_mlx.cli.app import app
from chronicon_mlx.library.runs import runs_folder
from chronicon_mlx.library.schema import MIGRATIONS, VERSION
from chronicon_mlx.library.store import Library
from chronicon_mlx.media.synthetic import write_sample_video


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Twelve short clips, each of its own length (so each has its own content)."""
    folder = tmp_path_factory.mktemp("clips")
    for n in range(12):
        write_sample_video(folder / f"clip{n:02d}.mp4", seconds=2 + n / 10, fps=10, size=(96, 64))
    return folder


def _moments(db: Path) -> list[tuple[str, float, float, int | None, str]]:
    with sqlite3.connect(db) as connection:
        rows = connection.execute(
            "SELECT videos.path, start_s, end_s, significance, description FROM moments"
            " JOIN passes ON passes.id = moments.pass JOIN videos ON videos.id = passes.video"
            " ORDER BY videos.path, start_s"
        ).fetchall()
    return [tuple(row) for row in rows]


def test_library_add_stores_every_window_of_the_run_and_skips_it_after(
    runner: CliRunner, clips: Path, tiny_model: Path, tmp_path: Path
) -> None:
    db = tmp_path / "lib" / "library.db"
    args = ["library", "add", str(clips), "-m", str(tiny_model), "--window", "1"]
    args += ["--frames-per-window", "2", "--library", str(db), "-Q"]
    done = runner.invoke(app, args)
    assert done.exit_code == 0, done.output
    expected = []
    records = sorted(runs_folder(db).glob("*/*_highlights.json"))
    assert len(records) == 12
    for path in records:
        record = json.loads(path.read_text())
        for w in record["windows"]:
            if w["description"] is not None:
                row = (record["video_path"], w["start_s"], w["end_s"], w["significance"])
                expected.append((*row, w["description"]))
    assert sorted(_moments(db)) == sorted(expected)
    assert len(expected) >= 24  # every clip has two windows or more
    stamps = [path.stat().st_mtime_ns for path in records]
    again = runner.invoke(app, args)
    assert again.exit_code == 0, again.output
    assert "already in the library" in again.stdout
    assert sorted(_moments(db)) == sorted(expected)
    assert [path.stat().st_mtime_ns for path in records] == stamps  # nothing was run again


def test_two_processes_adding_at_once_both_finish_and_store_each_moment_once(
    clips: Path, tiny_model: Path, tmp_path: Path
) -> None:
    db = tmp_path / "library.db"
    some = tmp_path / "some"
    some.mkdir()
    for n in range(4):
        shutil.copy(clips / f"clip{n:02d}.mp4", some)
    args = [sys.executable, "-m", "chronicon_mlx", "library", "add", str(some)]
    args += ["-m", str(tiny_model), "--window", "1", "--library", str(db), "-Q"]
    env = {**os.environ, "COLUMNS": "200"}
    both = [
        subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        for _ in range(2)
    ]
    outputs = [process.communicate(timeout=240) for process in both]
    assert [process.returncode for process in both] == [0, 0], outputs
    stored = _moments(db)
    assert len(stored) == len(set(stored)) > 0
    with sqlite3.connect(db) as connection:
        assert connection.execute("SELECT count(*) FROM passes").fetchone() == (4,)
    records = sorted(runs_folder(db).glob("*/*_highlights.json"))
    windows = [json.loads(path.read_text())["windows"] for path in records]
    assert len(stored) == sum(1 for run in windows for w in run if w["description"] is not None)


def test_import_reads_earlier_runs_and_skips_what_is_not_a_record(
    runner: CliRunner, clips: Path, tiny_model: Path, tmp_path: Path
) -> None:
    out = tmp_path / "runs"
    video = clips / "clip03.mp4"
    args = ["highlights", str(video), "-m", str(tiny_model), "--window", "1", "--overlap", "0"]
    args += ["--frames-per-window", "2", "--format", "json,html", "-o", str(out / "a"), "-Q"]
    done = runner.invoke(app, args)
    assert done.exit_code == 0, done.output
    (out / "notes.json").write_text('{"mine": true}')
    (out / "broken.json").write_text("{")
    record = json.loads((out / "a" / "clip03_highlights.json").read_text())
    gone = {**record, "video_path": str(tmp_path / "gone.mp4")}
    (out / "gone_highlights.json").write_text(json.dumps(gone))
    (out / "linked.json").symlink_to(out / "a" / "clip03_highlights.json")
    db = tmp_path / "library.db"
    imported = runner.invoke(app, ["library", "import", str(out), "--library", str(db)])
    assert imported.exit_code == 0, imported.output
    scored = [w for w in record["windows"] if w["description"] is not None]
    assert f"1 record imported, {len(scored)} moments added" in imported.stdout
    assert "notes.json: skipped, not a chronicon-mlx record" in imported.output
    assert "broken.json: skipped, not JSON" in imported.output
    assert "gone.mp4 is not there" in imported.output
    assert "linked.json" not in imported.output
    thumbs = [row[0] for row in sqlite3.connect(db).execute("SELECT thumbnail FROM moments")]
    assert all(Path(t).is_absolute() and Path(t).is_file() for t in thumbs)
    again = runner.invoke(app, ["library", "import", str(out), "--library", str(db)])
    assert "0 records imported, 0 moments added" in again.stdout
    assert "skipped, already in the library" in again.output


def test_analyze_adds_its_answers_with_their_questions(
    runner: CliRunner, clips: Path, tiny_model: Path, tmp_path: Path
) -> None:
    db = tmp_path / "library.db"
    video = clips / "clip05.mp4"
    args = ["analyze", str(video), "-m", str(tiny_model), "-p", "Who scores?", "-p", "Where?"]
    done = runner.invoke(app, [*args, "--frames", "2", "--no-save", "--library", str(db), "--json"])
    assert done.exit_code == 0, done.output
    record = json.loads(done.stdout)
    with sqlite3.connect(db) as connection:
        rows = connection.execute(
            "SELECT question, description, start_s, end_s, significance, kind FROM moments"
            " JOIN passes ON passes.id = moments.pass ORDER BY moments.id"
        ).fetchall()
    answers = [(a["prompt"], a["analysis"]) for a in record["answers"]]
    duration = record["video_info"]["duration_s"]
    assert rows == [(q, a, 0.0, duration, None, "answers") for q, a in answers]


def test_a_library_of_the_previous_schema_is_migrated_and_keeps_its_moments(
    tmp_path: Path,
) -> None:
    db = tmp_path / "old.db"
    with sqlite3.connect(db) as connection:
        connection.executescript(MIGRATIONS[1])
        connection.execute(
            "INSERT INTO videos VALUES (1, '/v.mp4', 'abc', 60.0, '2026-01-01T00:00:00+00:00')"
        )
        connection.execute(
            "INSERT INTO passes VALUES (1, 1, 'm', 'general', '{}', '2026-01-01T00:00:00+00:00')"
        )
        connection.execute(
            "INSERT INTO moments(pass, start_s, end_s, significance, description)"
            " VALUES (1, 5.0, 10.0, 8, 'a goal from a corner kick')"
        )
        connection.execute("PRAGMA user_version = 1")
    library = Library.open(db)
    assert library.connection.execute("PRAGMA user_version").fetchone() == (VERSION,)
    hits = library.search("corner")
    assert [(h.video, h.start_s, h.significance, h.question) for h in hits] == [
        ("/v.mp4", 5.0, 8, None)
    ]
    kinds = library.connection.execute("SELECT kind FROM passes").fetchall()
    assert kinds == [("highlights",)]
