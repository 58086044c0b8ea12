"""The system's Chromium for the browser tests (Playwright's own download cannot work
offline)."""

from __future__ import annotations

import shutil

import pytest

NAMES = ("chromium", "chromium-browser", "google-chrome", "chrome")


def chromium() -> str:
    """The path of a Chromium on this machine; the test is skipped where there is none."""
    for name in NAMES:
        found = shutil.which(name)
        if found:
            return found
    pytest.skip("no Chromium here (make test installs Debian's chromium when it can)")
