"""Atomic file writes: a temporary file in the same folder, then a rename."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from ..errors import OutputError


def can_create_in(folder: Path) -> bool:
    """True when a file can really be created in `folder` (permission bits do not stop the
    superuser; a read-only mount or an immutable folder does)."""
    try:
        with tempfile.TemporaryFile(dir=folder):
            return True
    except OSError:
        return False


def check_writable(path: Path) -> None:
    """Fail early, before any model work, when `path` cannot be written."""
    if path.is_dir():
        raise OutputError(
            f"output path {path} is a folder", hint="pass a file name such as result.json"
        )
    parent = path.parent
    existing = parent
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir() or not can_create_in(existing):
        raise OutputError(
            f"cannot write {path}: {existing} is not a writable folder",
            hint="choose another --output, or use --no-save",
        )
    if path.exists() and not os.access(path, os.W_OK):
        raise OutputError(
            f"cannot write {path}: the file is read-only",
            hint="choose another --output, or use --no-save",
        )


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current


def atomic_write_text(path: Path, text: str) -> Path:
    """Write `text` to `path` so readers see the old file or the new one, never a part."""
    return atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_bytes(path: Path, data: bytes) -> Path:
    """Write `data` to `path` so readers see the old file or the new one, never a part."""
    with _written_temp(path, data) as tmp:
        os.replace(tmp, path)
    return path


def atomic_write_new(path: Path, data: bytes) -> Path:
    """Write `data` to `path`, or to `path` with -2, -3, ... before its suffix when a file of
    that name exists (another run may have just written it): nothing is ever overwritten.
    Returns the path written."""
    with _written_temp(path, data) as tmp:
        candidate, number = path, 1
        while True:
            try:
                os.link(tmp, candidate)
                return candidate
            except FileExistsError:
                number += 1
                candidate = path.with_name(f"{path.stem}-{number}{path.suffix}")
    raise AssertionError("unreachable")  # pragma: no cover


@contextlib.contextmanager
def _written_temp(path: Path, data: bytes) -> Iterator[str]:
    """A temporary file beside `path` holding `data`, flushed to disk; removed afterwards
    (whatever the body did with it). Any OSError becomes an OutputError naming `path`."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise OutputError(
            f"cannot write {path}: {exc.strerror or exc}",
            hint="choose another --output, or use --no-save",
        ) from exc
    try:
        os.fchmod(fd, 0o666 & ~_umask())
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        yield tmp
    except OSError as exc:
        raise OutputError(
            f"cannot write {path}: {exc.strerror or exc}",
            hint="check the free space and permissions, or use --no-save",
        ) from exc
    finally:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
