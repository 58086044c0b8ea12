"""The web app on `serve`, driven in headless Chromium (Playwright, the system's Chromium):
log in, open a video and seek, ask and receive a streamed answer, stop one, run a highlights
job and click a bar, search and play a result, hostile text, a dropped connection, the
keyboard, and the page at 1280 and 390 px."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from browser import chromium
from serving import Server, served

from chronicon_mlx.library.store import Library

KEY = "web-test-key"
HOSTILE = '<img src=x onerror="document.title=1">'


def _webm(path: Path, seconds: float, fps: int = 10, size: tuple[int, int] = (160, 96)) -> Path:
    """A VP8 WebM (what every Chromium plays): a ball crossing a grey scene."""
    import av

    width, height = size
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libvpx", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        frames = int(seconds * fps)
        for n in range(frames):
            image = np.full((height, width, 3), 90, dtype=np.uint8)
            x = int((width - 20) * n / max(1, frames - 1))
            image[height // 2 - 10 : height // 2 + 10, x : x + 20] = (220, 30, 30)
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("web-media")
    _webm(folder / "match.webm", seconds=12)
    _webm(folder / f"{HOSTILE}.webm", seconds=3)
    # 8 s with sound: a loud burst in the middle of quiet noise.
    from chronicon_mlx.media.synthetic import write_clip_with_audio

    rng = np.random.default_rng(0)
    sound = (0.01 * rng.standard_normal(8 * 16_000)).astype(np.float32)
    sound[4 * 16_000 : 5 * 16_000] *= 40
    write_clip_with_audio(folder / "loud.mp4", [sound], fps=4, size=(64, 48))
    return folder


@pytest.fixture(scope="module")
def library(media: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from chronicon_mlx.library.records import Described, Moment

    db = tmp_path_factory.mktemp("web-library") / "library.db"
    store = Library.open(db)
    moments = [
        Moment(2.0, 4.0, 9, "A red card is shown to the keeper."),
        Moment(6.0, 8.0, 4, f"The crowd waves {HOSTILE} in red scarves."),
    ]
    store.store(Described(media / "match.webm", 12.0, "m", "sports", "highlights", "{}", moments))
    away = [Moment(1.0, 3.0, 5, "A red kite over the hills.")]
    elsewhere = Path("/elsewhere/away.mp4")
    described = Described(elsewhere, 60.0, "m", "general", "highlights", "{}", away)
    store.store(described, content="ab" * 32)
    store.close()
    return db


@pytest.fixture(scope="module")
def server(
    tiny_model: Path, media: Path, library: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    yield from _serving(tiny_model, media, library, tmp_path_factory)


def _serving(
    model: Path,
    media: Path,
    library: Path,
    factory: pytest.TempPathFactory,
    caps: tuple[str, ...] = ("--max-tokens", "4000"),
) -> Iterator[Server]:
    """The real server over `model`, the media and the library, with its own cache."""
    jobs, cache = factory.mktemp("web-jobs"), factory.mktemp("web-video-cache")
    args = ["-m", str(model), "--media-root", str(media), "--api-key", KEY]
    args += ["--jobs", str(jobs), "--library", str(library), *caps]
    with served(args, env={"CHRONICON_VIDEO_CACHE": str(cache)}) as running:
        yield running


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    binary = chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=binary,
            args=["--no-sandbox", "--autoplay-policy=no-user-gesture-required"],
        )
        try:
            yield launched
        finally:
            launched.close()


def _page(browser: Any, server: Server, width: int = 1280) -> Any:
    # Playwright's waits evaluate strings, which the page's own policy forbids.
    context = browser.new_context(viewport={"width": width, "height": 900}, bypass_csp=True)
    page = context.new_page()
    page.set_default_timeout(20_000)
    requests: list[tuple[str, str | None]] = []
    page.on("request", lambda r: requests.append((r.url, r.headers.get("authorization"))))
    page.requests = requests
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.errors = errors
    response = page.goto(server.url + "/")
    assert "script-src 'self'" in response.headers["content-security-policy"]
    page.wait_for_selector("html[data-ready='1']", state="attached")
    return page


def _ask(page: Any, question: str, turn: int, timeout: int = 60_000) -> None:
    """Ask `question` with Enter and wait for the conversation's answer number `turn`."""
    page.fill("#question", question)
    page.press("#question", "Enter")
    page.wait_for_selector(f"#turns li:nth-child({turn})[data-done='1']", timeout=timeout)


def _tokens(server: Server) -> dict[str, int]:
    """The server's token counters (prompt, cached, completion) from /metrics."""
    status, text, _ = server.request("GET", "/metrics", headers={"Authorization": f"Bearer {KEY}"})
    assert status == 200, text
    found = re.findall(r'^chronicon_tokens_total\{kind="(\w+)"\} (\d+)$', text, re.MULTILINE)
    return {kind: int(count) for kind, count in found}


def _token_count(model: Path, text: str) -> int:
    from transformers import AutoTokenizer

    return len(AutoTokenizer.from_pretrained(str(model)).encode(text, add_special_tokens=False))


def _login(page: Any) -> None:
    page.fill("#key", KEY)
    page.press("#key", "Enter")
    page.wait_for_selector("#videos button.video")
    assert page.errors == []  # the script raised nothing


def test_login_open_a_video_seek_and_the_key_on_every_call(browser: Any, server: Server) -> None:
    page = _page(browser, server)
    assert page.is_visible("#login") and not page.is_visible("#app")
    page.fill("#key", "wrong")
    page.press("#key", "Enter")
    page.wait_for_function("document.getElementById('login-error').textContent.length > 0")
    assert "not this server's" in page.inner_text("#login-error")
    _login(page)
    assert page.evaluate("sessionStorage.getItem('chronicon-key')") == KEY
    api_calls = [
        (url, auth)
        for url, auth in page.requests
        if ("/v1/" in url or "/health" in url) and "/v1/media" not in url and "/v1/frame" not in url
    ]
    assert api_calls and all(auth == f"Bearer {KEY}" for _, auth in api_calls)
    assert all(KEY not in url for url, _ in page.requests)  # never in a URL
    page.reload()  # the key stays in the tab: the page opens straight to the videos
    page.wait_for_selector("#videos button.video")
    page.click("#videos button.video:has-text('match.webm')")
    page.wait_for_function("window.chronicon.timing.page_to_play_ms !== undefined")
    assert not page.evaluate("document.getElementById('player').paused")
    page.evaluate("document.getElementById('player').currentTime = 7.5")
    page.wait_for_function("Math.abs(document.getElementById('player').currentTime - 7.5) < 0.6")


def test_ask_streams_the_answer_then_a_stop_cancels_one(
    browser: Any, server: Server, tiny_model: Path
) -> None:
    page = _page(browser, server)
    _login(page)
    page.click("text=match.webm")
    page.fill("#frames", "4")
    page.fill("#tokens", "48")
    before = _tokens(server)
    _ask(page, "What happens?", 1)
    first = page.inner_text("#turns li .answer")
    assert first and "error" not in first
    frames = page.query_selector_all("#strip button.frame")
    assert len(frames) == 4
    frames[2].click()
    page.wait_for_function("document.getElementById('player').currentTime > 0")
    # The follow-up reads the video's prefix (everything before the first question) from the
    # cache; only the conversation after it is computed.
    asked = _tokens(server)
    page.evaluate("delete window.chronicon.timing.first_token_ms")
    _ask(page, "And then?", 2)
    assert page.evaluate("window.chronicon.timing.first_token_ms") is not None
    followed = _tokens(server)
    question = _token_count(tiny_model, "What happens?<end_of_utterance>\nAssistant:")
    head = asked["prompt"] - before["prompt"] - question  # the frames and the prompt before
    assert followed["cached"] - asked["cached"] == head > 0
    assert followed["completion"] > asked["completion"]
    page.fill("#tokens", "4000")
    page.fill("#question", "Tell a long story.")
    page.press("#question", "Enter")
    page.wait_for_function(
        "document.querySelector('#turns li:nth-child(3) .answer').textContent.length > 0"
    )
    page.click("#stop")
    page.wait_for_selector("#turns li:nth-child(3)[data-stopped='1']")
    assert "(stopped)" in page.inner_text("#turns li:nth-child(3)")


def test_a_video_asked_about_with_the_default_frames_is_listed_as_cached(
    browser: Any, server: Server
) -> None:
    page = _page(browser, server)
    _login(page)
    entry = "#videos button.video:has-text('match.webm')"
    page.click(entry)
    page.fill("#frames", "8")
    page.fill("#tokens", "4")
    _ask(page, "What is this?", 1)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:  # the cache is written beside the model, just after
        page.reload()
        page.wait_for_selector(entry)
        if "cached" in page.inner_text(entry):
            break
        time.sleep(0.3)
    assert "cached" in page.inner_text(entry)
    assert "cached" not in page.inner_text(f"#videos button.video:has-text('{HOSTILE}')")


def test_a_highlights_job_fills_the_timeline_and_a_bar_plays(browser: Any, server: Server) -> None:
    page = _page(browser, server)
    _login(page)
    page.click("text=match.webm")
    page.fill("#window", "4")
    page.click("#find")
    page.wait_for_function(
        "document.querySelectorAll('#timeline .bar').length === 3", timeout=120_000
    )
    page.wait_for_function(
        "document.getElementById('job').textContent.includes('highlights from')", timeout=60_000
    )
    bars = page.query_selector_all("#timeline .bar")
    bars[1].click()
    page.wait_for_function("document.getElementById('player').currentTime >= 3.9")
    assert page.inner_text("#playing").startswith("playing 0:04-0:08")
    bars[2].focus()
    page.keyboard.press("Enter")
    page.wait_for_function("document.getElementById('player').currentTime >= 7.9")
    # The server's library now holds the job's windows beside the moments it had.
    _, listed, _ = server.request("GET", "/v1/videos", headers={"Authorization": f"Bearer {KEY}"})
    match = next(v for v in listed["data"] if v["name"] == "match.webm")
    assert match["described"] == 2 + 3


def test_the_timeline_draws_the_loudness_of_a_video_with_sound(
    browser: Any, server: Server
) -> None:
    page = _page(browser, server)
    _login(page)
    page.click("#videos button.video:has-text('loud.mp4')")
    page.select_option("#profile", "sports")  # its ranking weighs the loudness
    page.fill("#window", "2")
    page.click("#find")
    page.wait_for_selector("#timeline polyline.loudness", state="attached", timeout=120_000)
    points = page.get_attribute("#timeline polyline.loudness", "points")
    heights = [float(point.split(",")[1]) for point in points.split()]
    assert len(heights) == 8 and min(heights) == heights[4]  # the loud second stands highest
    assert len(page.query_selector_all("#timeline .bar")) == 4


def test_search_plays_a_result_and_hostile_text_stays_text(browser: Any, server: Server) -> None:
    page = _page(browser, server)
    _login(page)
    assert page.title() == "Chronicon MLX"
    assert HOSTILE + ".webm" in page.inner_text("#videos")
    page.fill("#query", "red")
    page.press("#query", "Enter")
    page.wait_for_selector("#results .hit")
    marks = page.eval_on_selector_all("#results mark", "ms => ms.map(m => m.textContent)")
    shown = page.inner_text("#results")
    assert marks == ["red", "red", "red"], shown
    assert "away.mp4" in shown and "not under a media root" in shown
    assert page.is_disabled("#videos button.video:has-text('away.mp4')")
    assert HOSTILE in page.inner_text("#results")
    assert page.query_selector("#results img") is None and page.title() == "Chronicon MLX"
    page.click("#results .hit button.play >> nth=0")
    page.wait_for_function("document.getElementById('player').currentTime >= 1.9")
    assert page.inner_text("#title") == "match.webm"
    page.click(f"text={HOSTILE}.webm")
    assert page.inner_text("#title") == f"{HOSTILE}.webm" and page.title() == "Chronicon MLX"


def test_keyboard_alone_reaches_every_control_with_a_visible_focus(
    browser: Any, server: Server
) -> None:
    page = _page(browser, server)
    _login(page)
    seen = []
    for _ in range(40):
        page.keyboard.press("Tab")
        focused = page.evaluate(
            "(() => { const e = document.activeElement; const s = getComputedStyle(e);"
            " return [e.id || e.className || e.tagName, s.outlineStyle, s.outlineWidth]; })()"
        )
        if focused[0] == "BODY":  # past the last control: the browser's own bar
            continue
        seen.append(focused[0])
        assert focused[1] != "none" and focused[2] != "0px", focused
    assert {"query", "question", "send", "find"} <= set(seen)
    page.focus("#videos button.video:has-text('match.webm')")
    page.keyboard.press("Enter")
    page.wait_for_function("document.getElementById('title').textContent === 'match.webm'")


def test_a_dropped_connection_shows_a_message_and_retries(browser: Any, server: Server) -> None:
    page = _page(browser, server)
    _login(page)
    page.context.set_offline(True)
    page.fill("#query", "red")
    page.press("#query", "Enter")
    page.wait_for_selector("#banner:not([hidden])")
    assert "connection to the server was lost" in page.inner_text("#banner")
    page.context.set_offline(False)
    page.wait_for_selector("#banner[hidden]", state="attached", timeout=30_000)


@pytest.mark.parametrize("width", [1280, 390])
def test_the_page_is_readable_at_both_widths(
    browser: Any, server: Server, width: int, tmp_path: Path
) -> None:
    page = _page(browser, server, width)
    _login(page)
    page.click("text=match.webm")
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"{overflow} px wider than the window"
    page.screenshot(path=str(tmp_path / f"app-{width}.png"), full_page=True)
    assert (tmp_path / f"app-{width}.png").stat().st_size > 10_000


def test_the_form_starts_within_the_servers_caps(
    browser: Any,
    tiny_model: Path,
    media: Path,
    library: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """A server capped below the form's usual 8 frames and 256 tokens: the form starts at
    its caps, and a plain question is answered, not refused."""
    caps = ("--max-tokens", "48", "--max-frames", "6")
    for running in _serving(tiny_model, media, library, tmp_path_factory, caps):
        page = _page(browser, running)
        _login(page)
        assert page.input_value("#frames") == "6" and page.input_value("#tokens") == "48"
        assert page.get_attribute("#tokens", "max") == "48"
        page.click("#videos button.video:has-text('match.webm')")
        _ask(page, "What happens?", 1)
        answer = page.inner_text("#turns li .answer")
        assert answer and not answer.startswith("error:"), answer
        assert len(page.query_selector_all("#strip button.frame")) == 6


def test_media_routes_keep_to_the_roots_and_answer_ranges(server: Server, media: Path) -> None:
    auth = {"Authorization": f"Bearer {KEY}"}
    video = str(media / "match.webm")
    size = (media / "match.webm").stat().st_size
    status, _, headers = server.request(
        "GET", f"/v1/media?path={video}", headers={**auth, "Range": "bytes=100-199"}
    )
    assert status == 206 and headers["content-range"] == f"bytes 100-199/{size}"
    assert server.request("GET", f"/v1/media?path={video}")[0] == 401  # no key, no cookie
    status, body, _ = server.request("GET", "/v1/media?path=/etc/passwd", headers=auth)
    assert status == 400 and body["error"]["code"] == "path_not_allowed"
    status, body, _ = server.request("GET", f"/v1/frame?path={video}&t=later", headers=auth)
    assert status == 400 and body["error"]["param"] == "t"
    status, _, headers = server.request("GET", f"/v1/frame?path={video}&t=2.5", headers=auth)
    assert status == 200 and headers["content-type"] == "image/jpeg"


def test_without_a_key_the_page_opens_straight_to_the_videos(
    browser: Any, tiny_model: Path, media: Path, tmp_path: Path
) -> None:
    args = ["-m", str(tiny_model), "--media-root", str(media), "--jobs", str(tmp_path / "jobs")]
    with served(args, env={"CHRONICON_VIDEO_CACHE": str(tmp_path / "cache")}) as running:
        page = _page(browser, running)
        page.wait_for_selector("#videos button.video")
        assert not page.is_visible("#login") and not page.is_visible("#logout")
        assert all(auth is None for _, auth in page.requests)  # there is no key to send
        assert page.errors == []
