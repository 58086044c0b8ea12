"""Screenshots of the web app at 1280 and 390 px wide: docs/app-1280.png, docs/app-390.png.

    python scripts/app_shots.py MODEL

Serves MODEL over a generated 30 s WebM (and its library of described moments), logs in,
opens the video, asks a question, runs a highlights job and searches the library, in
headless Chromium (Playwright pointed at the system's Chromium).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import av
import numpy as np

KEY = "screenshot"


def webm(path: Path, seconds: int = 30, fps: int = 10) -> None:
    """A VP8 WebM: a ball crossing a green pitch."""
    width, height = 480, 270
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libvpx", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        for n in range(seconds * fps):
            image = np.zeros((height, width, 3), dtype=np.uint8)
            image[:] = (40, 120, 50)
            image[:, width // 2 - 1 : width // 2 + 1] = 230
            x = int((width - 24) * (0.5 + 0.45 * np.sin(n / 25)))
            y = int(height / 2 + 60 * np.cos(n / 17))
            image[y - 12 : y + 12, x : x + 24] = (240, 240, 240)
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def main() -> None:
    from playwright.sync_api import sync_playwright

    model = sys.argv[1]
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        sys.exit("no Chromium for the screenshots")
    with tempfile.TemporaryDirectory() as folder:
        media = Path(folder) / "media"
        media.mkdir()
        webm(media / "match.webm")
        library = Path(folder) / "library.db"
        subprocess.run(
            [
                sys.executable,
                "-m",
                "chronicon_mlx",
                "library",
                "add",
                str(media),
                "-m",
                model,
                "--window",
                "5",
                "--library",
                str(library),
                "-Q",
            ],
            check=True,
        )
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        server = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "chronicon_mlx",
                "serve",
                "-m",
                model,
                "--port",
                str(port),
                "--media-root",
                str(media),
                "--api-key",
                KEY,
                "--library",
                str(library),
                "--jobs",
                str(Path(folder) / "jobs"),
                "--max-tokens",
                "48",
            ],
            env={**os.environ, "CHRONICON_VIDEO_CACHE": str(Path(folder) / "cache")},
        )
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                try:
                    with urllib.request.urlopen(url + "/health", timeout=2) as answer:
                        if json.load(answer)["status"] == "ready":
                            break
                except OSError:
                    time.sleep(0.2)
            word = _a_word(library)
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(
                    executable_path=chromium, args=["--no-sandbox"]
                )
                for width in (1280, 390):
                    page = browser.new_page(viewport={"width": width, "height": 900})
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
                    out = Path("docs") / f"app-{width}.png"
                    page.screenshot(path=str(out), full_page=True)
                    print(f"screenshot: {out}")
                    page.close()
                browser.close()
        finally:
            server.terminate()
            server.wait(30)


def _a_word(library: Path) -> str:
    """A word of the library's first moment (so that the search finds something)."""
    import sqlite3

    with sqlite3.connect(library) as connection:
        (text,) = connection.execute("SELECT description FROM moments LIMIT 1").fetchone()
    words = [w for w in text.split() if w.isalpha()]
    return words[0] if words else text.split()[0]


if __name__ == "__main__":
    main()
