"""The video library: moments stored per pass, full-text search across videos, and a
database that is never silently replaced."""

from __future__ import annotations

import json
import shutil
import sqlite3
import threading
from pathlib import Path

import pytest
from scripted import scripted_highlights
from typer.testing import CliRunner

from chronicon_mlx.cli.app import app
from chronicon_mlx.errors import OutputError, UsageError
from chronicon_mlx.highlight.params import HighlightsConfig
from chronicon_mlx.highlight.result import HighlightsResult
from chronicon_mlx.library.ranking import MARGIN
from chronicon_mlx.library.records import Described, Moment
from chronicon_mlx.library.schema import VERSION
from chronicon_mlx.library.store import FEW, Library
from chronicon_mlx.media.synthetic import write_sample_video

SAID = [
    ("A red card is shown to the keeper.", 9),
    ("The crowd sings in the stands.", 3),
    ("A player in a red shirt crosses the field.", 5),
    ("The referee shows a card for a late tackle.", 7),
]


def _result(tiny_model: Path, clip: Path) -> HighlightsResult:
    config = HighlightsConfig(window_s=1.0, overlap_s=0.0, frames_per_window=2, end_s=4.0)
    return scripted_highlights(tiny_model, clip, SAID, config)


@pytest.fixture()
def clip(tmp_path: Path) -> Path:
    return write_sample_video(tmp_path / "match.mp4", seconds=4, fps=10, size=(160, 96))


def test_moments_are_searched_by_bm25_and_significance(
    tiny_model: Path, clip: Path, tmp_path: Path
) -> None:
    library = Library.open(tmp_path / "library.db")
    assert library.add(_result(tiny_model, clip)) == 4
    hits = library.search("red card")
    assert [h.description for h in hits] == [SAID[0][0]]  # both words, in one moment
    either = library.search("red OR card")
    assert {h.description for h in either} == {SAID[0][0], SAID[2][0], SAID[3][0]}
    assert either[0].description == SAID[0][0]  # both words rank first
    assert [h.description for h in library.search('"red shirt"')] == [SAID[2][0]]
    assert [h.significance for h in library.search("card", min_significance=8)] == [9]
    assert hits[0].description_parts() == [
        ("A ", False),
        ("red", True),
        (" ", False),
        ("card", True),
        (" is shown to the keeper.", False),
    ]
    assert hits[0].link == f"{clip.absolute().as_uri()}#t=0.000,1.000"
    assert library.search("goal") == []
    assert library.videos() == [(str(clip), pytest.approx(4.0, abs=0.1), 4)]


def test_the_order_is_bm25_then_significance_even_across_ties_at_the_cut(tmp_path: Path) -> None:
    # 160 moments tie on BM25 (more than the margin past any cut inside them), 40 rank above
    # them and tie among themselves; the latest moments matter most, the first have no
    # significance.
    said = ["Then a goal.", "A goal, then a goal."]
    moments = [Moment(float(k), k + 1.0, k // 20 or None, said[k % 5 == 0]) for k in range(200)]
    run = Described(Path("/videos/a.mp4"), 200.0, "m", "p", "highlights", "{}", moments)
    library = Library.open(tmp_path / "library.db")
    library.store(run, content="a" * 64)
    every = library.connection.execute(
        "SELECT m.start_s, m.significance, bm25(moments_text) FROM moments_text"
        " JOIN moments AS m ON m.id = moments_text.rowid WHERE moments_text MATCH 'goal'"
    ).fetchall()
    assert len({score for _, _, score in every}) == 2 and MARGIN < 160
    every.sort(key=lambda row: (row[2], -row[1] if row[1] is not None else 99, row[0]))
    for limit in (1, 20, 40, 41, 45, 199, 300, FEW + 1):  # the last: in one statement
        hits = library.search("goal", limit=limit)
        assert [(h.start_s, h.significance, h.rank) for h in hits] == every[:limit]
        assert all(h.description == said[int(h.start_s) % 5 == 0] for h in hits)
        assert hits[0].description_parts()[1] == ("goal", True)


def test_the_same_pass_is_stored_once_and_a_moved_video_is_found_again(
    tiny_model: Path, clip: Path, tmp_path: Path
) -> None:
    library = Library.open(tmp_path / "library.db")
    result = _result(tiny_model, clip)
    assert library.add(result) == 4
    assert library.add(result) == 0
    moved = tmp_path / "renamed" / "final.mp4"
    moved.parent.mkdir()
    shutil.move(clip, moved)
    assert library.add(_result(tiny_model, moved)) == 0  # the same content, the same settings
    assert [path for path, _, _ in library.videos()] == [str(moved)]
    assert library.search("crowd")[0].video == str(moved)


def test_a_query_that_cannot_be_read_is_one_clear_error(
    tiny_model: Path, clip: Path, tmp_path: Path
) -> None:
    library = Library.open(tmp_path / "library.db")
    library.add(_result(tiny_model, clip))
    for query in ('"red card', "red AND", "   "):
        with pytest.raises(UsageError) as caught:
            library.search(query)
        assert "\n" not in caught.value.message and caught.value.hint


def test_prune_forgets_videos_whose_files_are_gone(
    tiny_model: Path, clip: Path, tmp_path: Path
) -> None:
    library = Library.open(tmp_path / "library.db")
    library.add(_result(tiny_model, clip))
    clip.unlink()
    assert library.prune() == [str(clip)]
    assert library.videos() == [] and library.search("crowd") == []


def test_a_newer_or_damaged_database_is_refused_and_left_as_it_is(tmp_path: Path) -> None:
    newer = tmp_path / "newer.db"
    Library.open(newer).close()
    with sqlite3.connect(newer) as connection:
        connection.execute(f"PRAGMA user_version = {VERSION + 1}")
    with pytest.raises(OutputError, match="newer version"):
        Library.open(newer)
    damaged = tmp_path / "damaged.db"
    damaged.write_bytes(b"not a database" * 100)
    with pytest.raises(OutputError, match="not a usable library database"):
        Library.open(damaged)
    assert damaged.read_bytes() == b"not a database" * 100


def test_two_writers_at_once_both_land(tiny_model: Path, tmp_path: Path) -> None:
    clips = [
        write_sample_video(tmp_path / f"clip{n}.mp4", seconds=4, fps=10 + n, size=(160, 96))
        for n in range(2)
    ]
    results = [_result(tiny_model, c) for c in clips]
    path = tmp_path / "library.db"
    Library.open(path).close()
    added: list[int] = []

    def add(result: HighlightsResult) -> None:
        library = Library.open(path)
        added.append(library.add(result))
        library.close()

    threads = [threading.Thread(target=add, args=(r,)) for r in results]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert added == [4, 4]
    assert [count for _, _, count in Library.open(path).videos()] == [4, 4]


def test_highlights_fill_the_library_and_search_finds_them(
    runner: CliRunner, tiny_model: Path, clip: Path, tmp_path: Path
) -> None:
    db = tmp_path / "moments.db"
    done = runner.invoke(
        app,
        [
            "highlights",
            str(clip),
            "-m",
            str(tiny_model),
            "--window",
            "2",
            "--overlap",
            "0",
            "--frames-per-window",
            "2",
            "-o",
            str(tmp_path / "out"),
            "--library",
            str(db),
            "-Q",
        ],
    )
    assert done.exit_code == 0, done.output
    record = json.loads((tmp_path / "out" / "match_highlights.json").read_text())
    stored = Library.open(db)
    assert stored.videos() == [(str(clip), pytest.approx(4.0, abs=0.1), len(record["windows"]))]
    word = next(w for w in record["windows"][0]["description"].split() if w.isalpha())
    found = runner.invoke(app, ["search", word, "--library", str(db), "--json"])
    assert found.exit_code == 0, found.output
    hits = json.loads(found.stdout)
    assert hits and all(h["video"] == str(clip) for h in hits)
    times = {(w["start_s"], w["end_s"]) for w in record["windows"]}
    assert all((h["start_s"], h["end_s"]) in times for h in hits)
    bad = runner.invoke(app, ["search", '"open', "--library", str(db)])
    assert bad.exit_code == 2 and "cannot be read" in bad.output and "Traceback" not in bad.output
    clip.unlink()
    pruned = runner.invoke(app, ["library", "prune", "--library", str(db)])
    assert pruned.exit_code == 0 and f"forgot {clip}" in pruned.stdout


def test_reading_a_library_that_does_not_exist_says_so_and_makes_nothing(
    runner: CliRunner, tmp_path: Path
) -> None:
    missing = tmp_path / "nowhere" / "library.db"
    for args in (["search", "goal"], ["library", "list"], ["library", "prune"]):
        done = runner.invoke(app, [*args, "--library", str(missing)])
        assert done.exit_code == 2, done.output
        assert "there is no library at" in done.output and "library add" in done.output
    assert not missing.parent.exists()
