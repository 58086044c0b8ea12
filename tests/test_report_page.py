"""The highlights page: its timeline, moments that play, model text kept inert, and the page
as a real browser renders it (headless Chromium, when one is installed)."""

from __future__ import annotations

import re
import subprocess
import urllib.parse
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from browser import chromium

from chronicon_mlx.analysis.session import ModelSession
from chronicon_mlx.highlight.params import HighlightsConfig
from chronicon_mlx.highlight.result import HighlightsResult
from chronicon_mlx.highlight.run import HighlightFinder
from chronicon_mlx.media.synthetic import write_clip_with_audio
from chronicon_mlx.options import profiles
from chronicon_mlx.output import write_highlights
from chronicon_mlx.testing import ScriptedBackend

HOSTILE = [
    '{"description": "<script>alert(1)</script> a goal", "significance": 9}',
    "no json here <b>bold</b>",
    "still no json",  # asked again once, then unscored
    '{"description": "[click](javascript:alert(1)) \\"quoted\\" & \'single\'", "significance": 8}',
    '{"description": "# heading **bold** <img src=x onerror=alert(2)>", "significance": 6}',
    '{"description": "javascript:alert(3)", "significance": 7}',
    '{"description": "calm", "significance": 1}',
]


class Page(HTMLParser):
    """What the tests look at in a page: links, images, timeline marks, cards, scripts."""

    def __init__(self) -> None:
        super().__init__()
        self.links: list[dict[str, str]] = []
        self.images: list[dict[str, str]] = []
        self.marks: list[dict[str, str]] = []
        self.ranges: list[dict[str, str]] = []
        self.cards: list[dict[str, str]] = []
        self.scripts = 0
        self.attributes: list[str] = []
        self.root: dict[str, str] = {}
        self.videos: list[dict[str, str]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        self.attributes += [k for k, _ in attrs]
        classes = a.get("class", "").split()
        if tag == "html":
            self.root = a
        if tag == "a":
            self.links.append(a)
        if tag == "a" and "range" in classes:
            self.ranges.append(a)
        if tag == "a" and "play" in classes:
            self.cards.append(a)
        if tag == "img":
            self.images.append(a)
        if tag == "g" and "window" in classes:
            self.marks.append(a)
        if tag == "script":
            self.scripts += 1
        if tag == "video":
            self.videos.append(a)


def _parse(text: str) -> Page:
    page = Page()
    page.feed(text)
    page.close()
    return page


@pytest.fixture(scope="module")
def report(tiny_model: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Any]:
    """A highlights run on a generated clip with hostile model text, written as every
    report format, with a reel."""
    folder = tmp_path_factory.mktemp("page")
    crowd = np.random.default_rng(0).standard_normal(6 * 16_000).astype(np.float32) * 0.02
    crowd[3 * 16_000 : 4 * 16_000] *= 10  # a roar in the fourth second
    clip = write_clip_with_audio(folder / "match [final].mp4", [crowd], fps=10, size=(320, 180))
    session = ModelSession.from_backend(ScriptedBackend(HOSTILE, json_schema=True), str(tiny_model))
    config = HighlightsConfig(
        window_s=1.0, overlap_s=0.0, frames_per_window=2, end_s=6.0, min_significance=5
    )
    out = folder / "out"
    result: HighlightsResult = HighlightFinder(session, profiles.get("sports")).run(
        clip, config, out
    )
    write_highlights(result, out, ["json", "md", "html"], reel=out / "reel.mp4")
    return out / "match [final]_highlights.html", result


def test_the_timeline_has_a_mark_per_window_and_a_range_per_highlight(report: Any) -> None:
    path, result = report
    page = _parse(path.read_text())
    assert [m["id"] for m in page.marks] == [f"window-{w.number}" for w in result.windows]
    assert all(m["tabindex"] == "0" and m["aria-label"] for m in page.marks)
    unscored = [w for w in result.windows if w.significance is None]
    assert len(unscored) == 1 and 'class="bar unscored"' in path.read_text()
    ticks = re.findall(r'<g class="tick">.*?<text[^>]*>([^<]+)</text>', path.read_text())
    assert ticks[0] == "0:00:00" and all(re.fullmatch(r"\d+:\d\d:\d\d", t) for t in ticks)
    spans = sorted((h.start_s, h.end_s) for h in result.highlights)
    assert len(page.ranges) == len(result.highlights) == 4
    for link, (start, end) in zip(page.ranges, spans, strict=True):
        assert link["href"].endswith(f"#t={start:.3f},{end:.3f}")


def test_every_card_plays_its_range_from_the_source_video(report: Any) -> None:
    path, result = report
    page = _parse(path.read_text())
    video = urllib.parse.quote("../match [final].mp4")
    assert page.videos[0]["src"] == video
    assert (path.parent / urllib.parse.unquote(video)).is_file()
    assert page.videos[1]["src"] == "reel.mp4"
    for card, highlight in zip(
        page.cards, sorted(result.highlights, key=lambda h: h.rank), strict=True
    ):
        assert card["href"] == f"{video}#t={highlight.start_s:.3f},{highlight.end_s:.3f}"
        assert float(card["data-start"]) == highlight.start_s
    thumbs = {i["src"] for i in page.images}
    assert {w.thumbnail for w in result.windows} <= thumbs
    assert all((path.parent / src).is_file() for src in thumbs)
    assert all(i["alt"] for i in page.images)


def test_model_text_never_becomes_markup(report: Any) -> None:
    path, _ = report
    text = path.read_text()
    page = _parse(text)
    assert page.scripts == 1  # the page's own
    assert not [k for k in page.attributes if k.startswith("on")]
    hrefs = [link["href"] for link in page.links]
    assert hrefs and not [h for h in hrefs if "javascript" in h.lower()]
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text and "<b>bold" not in text
    assert "&#34;quoted&#34;" in text and "&amp; &#39;single&#39;" in text
    markdown = path.with_suffix(".md").read_text()
    assert "\\[click\\](javascript:alert(1))" in markdown
    assert "\\<script\\>" in markdown and "\\# heading \\*\\*bold\\*\\*" in markdown


def test_a_video_the_page_cannot_reach_is_said_so(report: Any, tmp_path: Path) -> None:
    from chronicon_mlx.output.report import html_text

    _, result = report
    moved = tmp_path / "gone.mp4"
    source = result.source.__class__(**{**result.source.__dict__, "path": moved})
    page = html_text(result.__class__(**{**result.__dict__, "source": source}), "score", tmp_path)
    assert "is not reachable from this report" in page and "<video" not in page
    assert 'class="play"' not in page and 'class="range"' in page


def test_the_page_in_a_real_browser(report: Any) -> None:
    """Headless Chromium loads the page: the script ran, every image loaded, one mark per
    window, every card linked to its range."""
    browser = chromium()
    path, result = report
    proc = subprocess.run(
        [
            browser,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--allow-file-access-from-files",
            "--virtual-time-budget=5000",
            "--dump-dom",
            path.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-500:]
    dom = _parse(proc.stdout)
    assert dom.root.get("data-ready") == "1"
    assert dom.images and not [i for i in dom.images if "broken" in i.get("class", "")]
    assert len(dom.marks) == len(result.windows)
    assert len(dom.cards) == len(result.highlights)
    assert 'id="timeline-detail"' in proc.stdout
    curve = re.search(r'<polyline class="loudness" points="([^"]+)"', proc.stdout)
    assert curve is not None, "the loudness curve is drawn"
    heights = [float(point.split(",")[1]) for point in curve.group(1).split()]
    assert len(heights) == 6 and min(heights) == heights[3]  # the loud second stands highest
    assert all(re.search(r"#t=\d+\.\d{3},\d+\.\d{3}$", card["href"]) for card in dom.cards)
