"""What a file holds, as a digest of every byte: the identity of a video (the video cache's
key, the library's record of a video) and of a model's files.

A file is read once: its digest is remembered in a folder under the file's device, inode,
size, modification and change times. Replacing a file's bytes changes its change time
even when its size and modification time are kept (``cp -p``, ``rsync -a``), so a
remembered digest is never used for other bytes.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
from pathlib import Path

BLOCK = 1 << 20
DIGEST_SIZE = 32
_HEX = re.compile(f"[0-9a-f]{{{2 * DIGEST_SIZE}}}")


def stream_digest(path: Path) -> str:
    """The blake2b digest of every byte of `path`, read in blocks (never whole)."""
    digest = hashlib.blake2b(digest_size=DIGEST_SIZE)
    with path.open("rb") as handle:
        while block := handle.read(BLOCK):
            digest.update(block)
    return digest.hexdigest()


def _stamp(path: Path) -> str | None:
    """A name for the file's current state (None when it is not a regular file)."""
    info = path.stat()
    if not path.is_file():
        return None
    parts = f"{info.st_dev}:{info.st_ino}:{info.st_size}:{info.st_mtime_ns}:{info.st_ctime_ns}"
    return hashlib.blake2b(parts.encode(), digest_size=16).hexdigest()


def file_digest(path: Path, memo: Path | None = None) -> str:
    """The digest of every byte of `path`; with `memo`, a folder where digests are
    remembered, a file whose state is unchanged is not read again."""
    stamp = _stamp(path) if memo is not None else None
    if memo is None or stamp is None:
        return stream_digest(path)
    known = _recalled(memo / stamp)
    if known is not None:
        return known
    digest = stream_digest(path)
    if _stamp(path) == stamp:  # unchanged while it was read
        _remember(memo / stamp, digest)
    return digest


def remembered_digest(path: Path, memo: Path) -> str | None:
    """The digest `memo` remembers for the file's current state, without reading the file
    (None when it was never digested in this state)."""
    stamp = _stamp(path)
    return None if stamp is None else _recalled(memo / stamp)


def _recalled(remembered: Path) -> str | None:
    """A remembered digest (None when there is none, or it is not one: a link, bad text)."""
    with contextlib.suppress(OSError, UnicodeDecodeError):
        text = remembered.read_text(encoding="ascii").strip()
        if _HEX.fullmatch(text) and not remembered.is_symlink():
            return text
    return None


def _remember(target: Path, digest: str) -> None:
    """Write a remembered digest (private; a failure only costs a read next time)."""
    with contextlib.suppress(OSError):
        target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        temporary = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
        fd = os.open(temporary, flags, 0o600)
        try:
            with os.fdopen(fd, "w", encoding="ascii") as handle:
                handle.write(digest)
            os.replace(temporary, target)
        finally:
            temporary.unlink(missing_ok=True)
