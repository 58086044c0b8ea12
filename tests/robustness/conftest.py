"""Helpers for the robustness suite: read-only folders that hold even for the superuser."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest


@contextlib.contextmanager
def _read_only(folder: Path) -> Iterator[None]:
    """Make `folder` refuse new files: permission bits, plus the immutable attribute when
    running as root (who ignores permission bits)."""
    folder.chmod(0o555)
    immutable = False
    if os.geteuid() == 0:
        chattr = shutil.which("chattr")
        if chattr is None or subprocess.run([chattr, "+i", str(folder)],
                                            capture_output=True).returncode:  # fmt: skip
            folder.chmod(0o755)
            pytest.fail("running as root without `chattr +i`: cannot make a read-only folder")
        immutable = True
    try:
        yield
    finally:
        if immutable:
            subprocess.run(["chattr", "-i", str(folder)], check=True)
        folder.chmod(0o755)


def _files_under(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())


@pytest.fixture()
def read_only() -> Callable[[Path], contextlib.AbstractContextManager[None]]:
    """Make a folder refuse new files while the `with` block runs."""
    return _read_only


@pytest.fixture()
def files_under() -> Callable[[Path], list[str]]:
    """Every file below a folder, relative, sorted (hidden ones too)."""
    return _files_under
