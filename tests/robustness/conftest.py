"""Helpers for the robustness suite: read-only folders that hold even for the superuser."""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest


def _immutable(folder: Path, on: bool) -> bool:
    chattr = shutil.which("chattr")
    if chattr is None:
        return False
    done = subprocess.run([chattr, "+i" if on else "-i", str(folder)], capture_output=True)
    return done.returncode == 0


@pytest.fixture()
def read_only() -> Callable[[Path], contextlib.AbstractContextManager[None]]:
    """Make a folder refuse new files while the `with` block runs: permission bits, plus
    the immutable attribute when running as root (who ignores permission bits). Where
    `chattr +i` is not supported, creating anything inside the folder fails with EACCES
    the way the kernel would refuse it."""

    @contextlib.contextmanager
    def make(folder: Path) -> Iterator[None]:
        folder.chmod(0o555)
        immutable = os.geteuid() == 0 and _immutable(folder, True)
        patches = pytest.MonkeyPatch()
        if os.geteuid() == 0 and not immutable:
            _refuse_inside(patches, folder)
        try:
            yield
        finally:
            patches.undo()
            if immutable:
                _immutable(folder, False)
            folder.chmod(0o755)

    return make


def _refuse_inside(monkeypatch: pytest.MonkeyPatch, folder: Path) -> None:
    real_open, real_mkdir = os.open, os.mkdir
    root = str(folder.resolve())

    def inside(path: Any) -> bool:
        return str(Path(os.fsdecode(path)).resolve()).startswith(root + os.sep)

    tmpfile = getattr(os, "O_TMPFILE", 0)

    def guarded_open(path: Any, flags: int, *args: Any, **kwargs: Any) -> int:
        creates = flags & os.O_CREAT or (tmpfile and flags & tmpfile == tmpfile)
        target = path if not (tmpfile and flags & tmpfile == tmpfile) else Path(path) / "x"
        if creates and inside(target):
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(path))
        return real_open(path, flags, *args, **kwargs)

    def guarded_mkdir(path: Any, *args: Any, **kwargs: Any) -> None:
        if inside(path):
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(path))
        real_mkdir(path, *args, **kwargs)

    monkeypatch.setattr(os, "open", guarded_open)
    monkeypatch.setattr(os, "mkdir", guarded_mkdir)


@pytest.fixture()
def files_under() -> Callable[[Path], list[str]]:
    """Every file below a folder, relative, sorted (hidden ones too)."""

    def listing(folder: Path) -> list[str]:
        return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())

    return listing
