"""The web app's two latencies, in headless Chromium against a real `serve` on loopback:

- from the start of the page's load to a playing video;
- from Enter to the first streamed word of a follow-up about a cached video (4 frames,
  4 tokens; the second question of a new conversation), with the tiny checkpoint and with
  SmolVLM2-256M's architecture (random weights) on the cpu engine; and, without a target,
  the same for the later turns of one conversation.

    python scripts/bench_app.py [--runs N] [--output results/bench-app.json]

Medians and the largest of N runs each; targets: 1 s and 0.5 s.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

from app_server import KEY, chromium, serving, webm

from chronicon_mlx.library.store import Library
from chronicon_mlx.model.random_weights import cached_checkpoint

TARGETS_MS = {"page_to_play_ms": 1000.0, "first_word_ms": 500.0}
"""The targets; `later_turns_first_word_ms` (turns 2, 3, ... of one conversation, each
recomputing the conversation after the video's prefix) has none."""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--output", type=Path, default=Path("results/bench-app.json"))
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    results: dict[str, Any] = {"runs": args.runs, "targets_ms": TARGETS_MS, "models": {}}
    with tempfile.TemporaryDirectory() as temp, sync_playwright() as playwright:
        folder = Path(temp)
        media = folder / "media"
        media.mkdir()
        webm(media / "match.webm", seconds=12)
        library = folder / "library.db"
        Library.open(library).close()
        binary = chromium()
        browser = playwright.chromium.launch(
            executable_path=binary,
            args=["--no-sandbox", "--autoplay-policy=no-user-gesture-required"],
        )
        for size in ("tiny", "256m"):
            model = str(cached_checkpoint(size))
            place = folder / size
            place.mkdir()
            with serving(model, media, library, place, max_tokens=64) as url:
                # Playwright's waits evaluate strings, which the page's own policy forbids.
                viewport = {"width": 1280, "height": 900}
                page = browser.new_context(viewport=viewport, bypass_csp=True).new_page()
                page.goto(url + "/")
                page.fill("#key", KEY)
                page.press("#key", "Enter")
                loads = [_page_to_play(page, url) for _ in range(args.runs)]
                follow_ups, turns = _first_words(page, args.runs)
                measured = {
                    "page_to_play_ms": loads,
                    "first_word_ms": follow_ups,
                    "later_turns_first_word_ms": turns,
                }
                page.close()
            results["models"][size] = _summary(measured)
            _show(size, results["models"][size])
        browser.close()
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(results, indent=2) + "\n")
    print(f"results: {args.output}")


def _page_to_play(page: Any, url: str) -> float:
    """Load the page (the key is kept in the tab), open the video; the ms from the start of
    the load to `playing`."""
    page.goto(url + "/")
    page.wait_for_selector("#videos button.video")
    page.click("#videos button.video:has-text('match.webm')")
    page.wait_for_function("window.chronicon.timing.page_to_play_ms !== undefined")
    return float(page.evaluate("window.chronicon.timing.page_to_play_ms"))


def _first_words(page: Any, runs: int) -> tuple[list[float], list[float]]:
    """The ms from Enter to the first streamed word of a follow-up: in `runs` new
    conversations about the (then cached) video, the second question of each; and the
    turns after the first in one conversation of `runs` + 1 questions."""
    page.fill("#frames", "4")
    page.fill("#tokens", "4")
    _ask(page, "What happens?", 1, timeout_ms=300_000)  # the video gets encoded
    follow_ups = []
    for _ in range(runs):
        page.click("#new-chat")
        _ask(page, "What happens?", 1, timeout_ms=60_000)
        follow_ups.append(_timed_ask(page, 2))
    page.click("#new-chat")
    _ask(page, "What happens?", 1, timeout_ms=60_000)
    turns = [_timed_ask(page, turn) for turn in range(2, runs + 2)]
    return follow_ups, turns


def _timed_ask(page: Any, turn: int) -> float:
    page.evaluate("delete window.chronicon.timing.first_token_ms")
    _ask(page, "And then?", turn, timeout_ms=60_000)
    return float(page.evaluate("window.chronicon.timing.first_token_ms"))


def _ask(page: Any, question: str, turn: int, timeout_ms: int) -> None:
    page.fill("#question", question)
    page.press("#question", "Enter")
    page.wait_for_selector(f"#turns li:nth-child({turn})[data-done='1']", timeout=timeout_ms)


def _summary(measured: dict[str, list[float]]) -> dict[str, Any]:
    return {
        name: {
            "median_ms": round(statistics.median(values), 1),
            "max_ms": round(max(values), 1),
            "all_ms": [round(v, 1) for v in values],
        }
        for name, values in measured.items()
    }


def _show(size: str, summary: dict[str, Any]) -> None:
    for name, figures in summary.items():
        target = f"  (target <= {TARGETS_MS[name]:.0f} ms)" if name in TARGETS_MS else ""
        print(
            f"{size:>5} {name:<26} median {figures['median_ms']:8.1f} ms"
            f"  max {figures['max_ms']:8.1f} ms{target}  all {figures['all_ms']}",
            file=sys.stdout,
        )


if __name__ == "__main__":
    main()
