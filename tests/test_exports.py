"""Chapters and editor timelines, from a highlights run and from a search, each read back by
what consumes it (PyAV for FFmetadata and WebVTT, OpenTimelineIO for OTIO and the EDL); the
search's results page with hostile text; and the library over HTTP with the OpenAI client."""

from __future__ import annotations

import html
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import av
import openai
import opentimelineio as otio
import pytest
import uvicorn
from scripted import scripted_highlights
from serving import free_port
from typer.testing import CliRunner

from chronicon_mlx.analysis.spec import SessionSpec
from chronicon_mlx.cli.app import app
from chronicon_mlx.highlight.params import HighlightsConfig
from chronicon_mlx.highlight.result import HighlightsResult
from chronicon_mlx.library.store import Library
from chronicon_mlx.media.synthetic import write_sample_video
from chronicon_mlx.output import write_highlights
from chronicon_mlx.serve.app import create_app
from chronicon_mlx.serve.state import ServerState, ServeSettings

SAID = [
    ("Kick-off; the teams = ready #1", 8),
    ("The crowd sings.", 3),
    ("A <b>red</b> card & a booking", 9),
    ("Players walk off.", 2),
    ("A late goal from a corner", 10),
    ("The final whistle.", 6),
]


def _result(tiny_model: Path, clip: Path, said: list[tuple[str, int]] = SAID) -> HighlightsResult:
    config = HighlightsConfig(window_s=2.0, overlap_s=0.0, frames_per_window=2, min_significance=6)
    return scripted_highlights(tiny_model, clip, said, config)


@pytest.fixture()
def clip(tmp_path: Path) -> Path:
    return write_sample_video(tmp_path / "match.mp4", seconds=12, fps=25, size=(160, 96))


def test_highlights_chapters_and_timelines_read_back(
    tiny_model: Path, clip: Path, tmp_path: Path
) -> None:
    result = _result(tiny_model, clip)
    formats = ["ffmetadata", "chapters.vtt", "youtube.txt", "edl", "otio"]
    write_highlights(result, tmp_path, formats)
    expected = [(0.0, 2.0, SAID[0][0]), (4.0, 6.0, SAID[2][0]), (8.0, 10.0, SAID[4][0])]
    expected.append((10.0, 12.0, SAID[5][0]))

    with av.open(str(tmp_path / "match_highlights.ffmetadata"), format="ffmetadata") as meta:
        chapters = meta.chapters()
    assert [
        (c["start"] * c["time_base"], c["end"] * c["time_base"], c["metadata"]["title"])
        for c in chapters
    ] == expected

    with av.open(str(tmp_path / "match_highlights.chapters.vtt")) as vtt:
        cues = [
            (float(p.pts * p.time_base), float((p.pts + p.duration) * p.time_base), bytes(p))
            for p in vtt.demux(vtt.streams.subtitles[0])
            if p.size
        ]
    assert [(a, b, html.unescape(text.decode())) for a, b, text in cues] == expected
    assert b"<b>" not in b"".join(text for _, _, text in cues)  # cue text stays text

    youtube = (tmp_path / "match_highlights.youtube.txt").read_text().splitlines()
    assert youtube == [f"0:00 {SAID[0][0]}", f"0:10 {SAID[5][0]}"]  # at least 10 s apart

    for name, timeline in [
        ("otio", otio.adapters.read_from_file(str(tmp_path / "match_highlights.otio"))),
        ("edl", otio.adapters.read_from_file(str(tmp_path / "match_highlights.edl"), rate=25)),
    ]:
        clips = list(timeline.find_clips())
        spans = [
            (c.source_range.start_time.to_seconds(), c.source_range.end_time_exclusive())
            for c in clips
        ]
        assert [(a, b.to_seconds()) for a, b in spans] == [(a, b) for a, b, _ in expected], name
        assert all(c.media_reference.target_url == clip.absolute().as_uri() for c in clips), name
    assert [c.name for c in timeline.find_clips()] == [text for _, _, text in expected]


@pytest.fixture()
def library(tiny_model: Path, clip: Path, tmp_path: Path) -> Path:
    db = tmp_path / "library.db"
    store = Library.open(db)
    store.add(_result(tiny_model, clip))
    other = write_sample_video(tmp_path / "<i>other</i>.mp4", seconds=4, fps=30, size=(96, 64))
    said = [("A red scarf in the stands", 4), ("<script>alert(1)</script> red", 7)]
    store.add(_result(tiny_model, other, said))
    store.close()
    return db


def test_search_exports_and_its_page_keep_hostile_text_as_text(
    runner: CliRunner, library: Path, clip: Path, tmp_path: Path
) -> None:
    page = tmp_path / "pages" / "red.html"
    page.parent.mkdir()
    found = runner.invoke(
        app,
        ["search", "red", "--library", str(library), "--html", str(page)],
        env={"COLUMNS": "200"},
    )
    assert found.exit_code == 0, found.output
    text = page.read_text()
    assert "<script>alert" not in text and "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    assert "&lt;i&gt;other&lt;/i&gt;.mp4" in text and "<i>other" not in text
    assert text.count("<mark>red</mark>") == 3
    assert 'src="../match.mp4"' in text and 'data-start="4.0" data-end="6.0"' in text

    several = runner.invoke(
        app,
        ["search", "red", "--library", str(library), "--export", str(tmp_path / "x.ffmetadata")],
    )
    assert several.exit_code == 2 and "chapters belong to one video" in several.output
    assert "--video" in several.output and not (tmp_path / "x.ffmetadata").exists()
    rates = runner.invoke(
        app, ["search", "red", "--library", str(library), "--export", str(tmp_path / "x.edl")]
    )
    assert rates.exit_code == 2 and "one frame rate" in rates.output

    timeline = tmp_path / "red.otio"
    mixed = runner.invoke(
        app, ["search", "red", "--library", str(library), "--export", str(timeline)]
    )
    assert mixed.exit_code == 0, mixed.output
    clips = list(otio.adapters.read_from_file(str(timeline)).find_clips())
    assert len(clips) == 3 and {c.source_range.start_time.rate for c in clips} == {25.0, 30.0}

    one = tmp_path / "one.chapters.vtt"
    args = ["search", "red", "--video", str(clip), "--library", str(library), "--export", str(one)]
    assert runner.invoke(app, args).exit_code == 0
    with av.open(str(one)) as vtt:
        payloads = [bytes(p) for p in vtt.demux(vtt.streams.subtitles[0]) if p.size]
    assert payloads == [b"A &lt;b&gt;red&lt;/b&gt; card &amp; a booking"]


@pytest.fixture()
def api(library: Path, tmp_path: Path) -> Iterator[str]:
    """The server's routes in this process (no model loaded: search does not need one)."""
    settings = ServeSettings(spec=SessionSpec("tiny-random"), api_key="k", library=library)
    state = ServerState(settings, lambda line: None)
    port = free_port()
    config = uvicorn.Config(create_app(state), host="127.0.0.1", port=port, log_level="error")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        server.should_exit = True
        thread.join(10)


def test_the_library_is_searched_over_http_with_the_same_json(
    runner: CliRunner, api: str, library: Path
) -> None:
    client = openai.OpenAI(base_url=api, api_key="k", max_retries=0)
    body = client.get("/search", cast_to=object, options={"params": {"q": "red", "limit": 2}})
    assert isinstance(body, dict)
    cli = runner.invoke(app, ["search", "red", "--limit", "2", "--library", str(library), "--json"])
    assert body["object"] == "list" and body["query"] == "red"
    assert body["data"] == json.loads(cli.stdout)
    assert [hit["matches"] for hit in body["data"]] == [["red"], ["red"]]
    with pytest.raises(openai.BadRequestError) as bad:
        client.get("/search", cast_to=object, options={"params": {"q": '"red'}})
    assert bad.value.status_code == 400 and bad.value.body["param"] == "q"
    with pytest.raises(openai.BadRequestError):
        client.get("/search", cast_to=object, options={"params": {"q": "a", "limit": 0}})
    stranger = openai.OpenAI(base_url=api, api_key="wrong", max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        stranger.get("/search", cast_to=object, options={"params": {"q": "red"}})
