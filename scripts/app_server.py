"""A generated WebM and a real `chronicon-mlx serve` over it, for the web app's scripts
(screenshots and the latency bench)."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import av
import numpy as np

KEY = "app-script"


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


def chromium() -> str:
    """The system's Chromium (Playwright is pointed at it)."""
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        sys.exit("no Chromium: install Debian's chromium package (make browser)")
    return found


@contextlib.contextmanager
def serving(model: str, media: Path, library: Path, folder: Path, max_tokens: int) -> Iterator[str]:
    """`serve` over `model`, the videos in `media` and `library`, with its jobs and video
    cache under `folder`; its URL once /health says ready (within two minutes)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    command = [sys.executable, "-m", "chronicon_mlx", "serve", "-m", model, "--port", str(port)]
    command += ["--media-root", str(media), "--api-key", KEY, "--library", str(library)]
    command += ["--jobs", str(folder / "jobs"), "--max-tokens", str(max_tokens)]
    env = {**os.environ, "CHRONICON_VIDEO_CACHE": str(folder / "cache")}
    server = subprocess.Popen(command, env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if server.poll() is not None:
                sys.exit(f"the server exited with {server.returncode}")
            try:
                with urllib.request.urlopen(url + "/health", timeout=2) as answer:
                    if json.load(answer)["status"] == "ready":
                        break
            except OSError:
                pass
            time.sleep(0.2)
        else:
            sys.exit("the server did not get ready within two minutes")
        yield url
    finally:
        server.terminate()
        server.wait(30)
