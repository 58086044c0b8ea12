"""Screenshots of the web app at 1280 and 390 px wide: docs/app-1280.png, docs/app-390.png.

    python scripts/app_shots.py MODEL

Serves MODEL over a generated 30 s WebM (and its library of described moments), logs in,
opens the video, asks a question, runs a highlights job and searches the library, in
headless Chromium (Playwright pointed at the system's Chromium).
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from app_server import KEY, chromium, serving, webm


def main() -> None:
    from playwright.sync_api import sync_playwright

    model = sys.argv[1]
    binary = chromium()
    with tempfile.TemporaryDirectory() as temp:
        folder = Path(temp)
        media = folder / "media"
        media.mkdir()
        webm(media / "match.webm")
        library = folder / "library.db"
        add = [sys.executable, "-m", "chronicon_mlx", "library", "add", str(media), "-m", model]
        subprocess.run([*add, "--window", "5", "--library", str(library), "-Q"], check=True)
        with serving(model, media, library, folder, max_tokens=48) as url:
            word = _a_word(library)
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=binary, args=["--no-sandbox"])
                for width in (1280, 390):
                    page = browser.new_page(viewport={"width": width, "height": 900})
                    _shoot(page, url, word, Path("docs") / f"app-{width}.png")
                    print(f"screenshot: docs/app-{width}.png")
                browser.close()


def _shoot(page: Any, url: str, word: str, out: Path) -> None:
    """Ask, find highlights and search on `page`, then save its screenshot as `out`."""
    page.goto(url + "/")
    page.fill("#key", KEY)
    page.press("#key", "Enter")
    page.click("#videos button.video")
    page.fill("#frames", "6")
    page.fill("#question", "What happens in this video?")
    page.press("#question", "Enter")
    page.wait_for_selector("#turns li[data-done='1']", timeout=120_000)
    page.fill("#window", "5")
    page.click("#find")
    page.wait_for_selector("#ranked li", timeout=300_000)
    page.fill("#query", word)
    page.press("#query", "Enter")
    page.wait_for_selector("#results .hit")
    page.click("#timeline rect >> nth=2")
    page.wait_for_timeout(800)
    page.screenshot(path=str(out), full_page=True)
    page.close()


def _a_word(library: Path) -> str:
    """A word of the library's first moment (so that the search finds something)."""
    import sqlite3

    with sqlite3.connect(library) as connection:
        (text,) = connection.execute("SELECT description FROM moments LIMIT 1").fetchone()
    words = [w for w in text.split() if w.isalpha()]
    return words[0] if words else text.split()[0]


if __name__ == "__main__":
    main()
