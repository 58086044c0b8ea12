"""Which files are videos: folders expanded to the video files in them, and a check that
rejects what cannot be a video before any decoder sees it."""

from __future__ import annotations

import atexit
import contextlib
import functools
import hashlib
import os
import re
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path

from ..errors import UsageError, VideoError, field

_EXTENSIONS = ".mp4 .m4v .mov .mkv .webm .avi .mpg .mpeg .wmv .flv .ts .mts .m2ts .3gp .ogv"
VIDEO_EXTENSIONS = frozenset(_EXTENSIONS.split())
_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:/")
IMAGE_MAGIC = {
    b"\x89PNG": "PNG",
    b"\xff\xd8\xff": "JPEG",
    b"GIF8": "GIF",
    b"BM": "BMP",
}


def expand(paths: Sequence[Path], recursive: bool = False) -> list[Path]:
    """The video files named: files as given, folders expanded to the video files in them
    (sorted; in subfolders too with `recursive`). Duplicates are dropped."""
    found: list[Path] = []
    for path in paths:
        path = path.expanduser()
        if path.is_dir():
            pattern = path.rglob("*") if recursive else path.glob("*")
            videos = sorted(
                p for p in pattern if p.is_file() and p.suffix.lower() in VIDEO_EXTENSIONS
            )
            if not videos:
                deeper = "" if recursive else f" (add {field('recursive')} to look in subfolders)"
                raise UsageError(
                    f"no video files in {path}{deeper}",
                    hint=f"video files end in {', '.join(sorted(VIDEO_EXTENSIONS))}",
                )
            found.extend(videos)
        else:
            found.append(path)
    unique: dict[Path, None] = {}
    for path in found:
        unique.setdefault(path.resolve() if path.exists() else path, None)
    return list(unique)


def decoder_name(path: Path) -> str:
    """A name for `path` that every decoder can open: the path itself when it is valid
    UTF-8, else a link to it with a plain name in a private temporary folder (OpenCV and
    FFmpeg cannot take undecodable file-name bytes)."""
    text = str(path)
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        pass
    raw = os.fsencode(path.absolute())
    alias = _alias_folder() / f"{hashlib.sha1(raw).hexdigest()[:16]}{_ascii_suffix(path)}"
    if not alias.is_symlink():
        with contextlib.suppress(FileExistsError):
            os.symlink(raw, os.fsencode(alias))
    return str(alias)


@functools.lru_cache(maxsize=1)
def _alias_folder() -> Path:
    folder = Path(tempfile.mkdtemp(prefix="chronicon-names-"))
    atexit.register(shutil.rmtree, folder, True)
    return folder


def _ascii_suffix(path: Path) -> str:
    suffix = path.suffix
    return suffix if suffix.isascii() and suffix.replace(".", "").isalnum() else ""


def check_file(path: Path) -> None:
    """Reject what cannot be a video before any decoder sees it."""
    if _URL.match(str(path)):
        raise VideoError(
            f"{path} looks like a URL: only video files on disk can be read",
            hint="download it first (for example with yt-dlp) and pass the file",
        )
    if not path.exists():
        hint = "check the path and its spelling"
        if path.name.lower() in ("true", "false", "yes", "no", "on", "off"):
            hint = "flags take no value (write --json, not --json true)"
        raise VideoError(f"video not found: {path}", hint=hint)
    if path.is_dir():
        raise VideoError(
            f"{path} is a folder, not a video file", hint="pass a video file such as clip.mp4"
        )
    if not path.is_file():
        raise VideoError(
            f"{path} is not a regular file (a FIFO, a device or a socket)",
            hint="save the video to a file first and pass that",
        )
    try:
        size = path.stat().st_size
        with path.open("rb") as handle:
            head = handle.read(16)
    except OSError as exc:
        raise VideoError(
            f"cannot read {path}: {exc.strerror}", hint="check its permissions"
        ) from exc
    if size == 0:
        raise VideoError(f"{path} is empty (0 bytes)", hint="the file was not fully written")
    kind = next((name for magic, name in IMAGE_MAGIC.items() if head.startswith(magic)), None)
    if kind is None and head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        kind = "WebP"
    if kind is not None:
        raise VideoError(
            f"{path} is a still {kind} image, not a video",
            hint="pass a video file (mp4, mov, mkv, webm, avi)",
        )
