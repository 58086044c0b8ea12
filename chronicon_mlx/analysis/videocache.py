"""The video cache: what reading and encoding a video cost, kept on disk between runs.

Two kinds of entry, one safetensors file each:

- *frames*: every sampled frame's vision features, index, time and content key; keyed by
  the video's content (a digest of every byte), the frame plan and size, the model's files
  (a digest of every byte of each), and the backend's `CacheIdentity` (backend, device,
  dtype, quantization, and the library versions and kernels that compute);
- *prefix*: the KV cache of the prompt up to the first question (system prompt and frames);
  keyed by the frames entry's key and the prefix text.

Each file carries the format's version, its own key and a checksum of its tensors: one that
does not match (damaged, foreign, written by another version) is ignored, removed and
rebuilt. The folder is kept under a size limit by dropping the least recently used files.
The folder is private (0700, its files 0600), and the cache only ever removes or replaces
files named as it names its entries.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .. import paths
from ..backends.reuse import PrefixState
from ..errors import OutputError
from ..files import atomic_write_bytes
from ..media.digest import file_digest
from ..model.fingerprint import fingerprint
from ..paths import private_folder
from .heardentry import heard_entry, heard_from

if TYPE_CHECKING:
    from ..audio.hear import Hearing
    from ..backends.base import CacheIdentity
    from ..model.resolver import ModelRef
    from .frames import PlannedVideo

FORMAT = "chronicon-video-cache"
VERSION = "2"
DEFAULT_LIMIT_GB = 4.0
DIGESTS = "digests"
SUFFIX = ".safetensors"
Note = Callable[[str], None]
Array = np.ndarray[Any, Any]
Entry = tuple[dict[str, Array], dict[str, str]]


def content_digest(path: Path, memo: Path | None = None) -> str:
    """A digest of every byte of a video (remembered in `memo` per file state)."""
    return file_digest(path, memo)


def _digest(*parts: object) -> str:
    return hashlib.blake2b(json.dumps(parts, sort_keys=True).encode(), digest_size=20).hexdigest()


def _checksum(tensors: dict[str, Array]) -> str:
    digest = hashlib.blake2b(digest_size=16)
    for name in sorted(tensors):
        array = np.ascontiguousarray(tensors[name])
        digest.update(f"{name}:{array.dtype.str}:{array.shape}".encode())
        digest.update(array.tobytes())
    return digest.hexdigest()


@dataclass(frozen=True)
class CachedFrames:
    """A video's sampled frames as the cache keeps them: (index, time) and content key of
    each, and its vision features."""

    frames: list[tuple[int, float]]
    keys: list[str]
    features: list[Array]


@dataclass(frozen=True)
class CacheInfo:
    """The cache folder, how many entries it holds, their size and the size limit."""

    root: Path
    entries: int
    bytes: int
    limit_bytes: int


class VideoCache:
    """Video cache entries under `root`, at most `limit_bytes` in all."""

    def __init__(self, root: Path, limit_bytes: int) -> None:
        self.root = private_folder(root, "the video cache folder")
        self.limit_bytes = limit_bytes
        self.memo = self.root / DIGESTS

    @classmethod
    def default(cls, limit_gb: float = DEFAULT_LIMIT_GB) -> VideoCache:
        """The cache in its usual folder (see `paths.video_cache_dir`)."""
        return cls(paths.video_cache_dir(), int(limit_gb * 1e9))

    def frames_key(
        self, planned: PlannedVideo, seek: str, model: ModelRef, identity: CacheIdentity
    ) -> str:
        """The frames entry's key for a planned video on a backend with this identity."""
        video = content_digest(planned.info.path, self.memo)
        files = fingerprint(model.path, self.memo)
        plan = [planned.indices, planned.resize, seek]
        return _digest("frames", VERSION, video, plan, files, dataclasses.astuple(identity))

    @staticmethod
    def prefix_key(frames_key: str, prefix: str) -> str:
        """The prefix entry's key: the frames it holds and the prompt text up to them."""
        return _digest("prefix", VERSION, frames_key, prefix)

    def read_frames(self, key: str, note: Note) -> CachedFrames | None:
        """The frames entry for `key`, or None (missing, or unusable: then removed)."""
        found = self._read("frames", key, note)
        if found is None:
            return None
        tensors, meta = found
        try:
            frames = [(int(i), float(t)) for i, t in json.loads(meta["frames"])]
            keys = [str(k) for k in json.loads(meta["keys"])]
            features = [tensors[f"frame.{n}"] for n in range(len(keys))]
        except (KeyError, ValueError, TypeError, RecursionError):
            self._reject("frames", key, "its frame list is unreadable", note)
            return None
        if len(frames) != len(keys) or not keys:
            self._reject("frames", key, "its frame list is inconsistent", note)
            return None
        return CachedFrames(frames, keys, features)

    def write_frames(self, key: str, entry: CachedFrames, note: Note) -> None:
        """Keep a video's frames (a failed write is a note, never an error)."""
        tensors = {f"frame.{n}": array for n, array in enumerate(entry.features)}
        meta = {"frames": json.dumps(entry.frames), "keys": json.dumps(entry.keys)}
        self._write("frames", key, tensors, meta, note)

    def read_prefix(self, key: str, note: Note) -> PrefixState | None:
        """The prefix entry for `key`, or None (missing, or unusable: then removed)."""
        found = self._read("prefix", key, note)
        if found is None:
            return None
        tensors, meta = found
        try:
            frame_keys = [str(k) for k in json.loads(meta["frame_keys"])]
            count = int(meta["layers"])
            layers = [
                (tensors[f"layer.{n}.keys"], tensors[f"layer.{n}.values"]) for n in range(count)
            ]
            ids = [int(i) for i in tensors["ids"]]
        except (KeyError, ValueError, TypeError, RecursionError):
            self._reject("prefix", key, "its layers are unreadable", note)
            return None
        return PrefixState(ids, frame_keys, layers)

    def write_prefix(self, key: str, state: PrefixState, note: Note) -> None:
        """Keep a prefix's KV cache (a failed write is a note, never an error)."""
        tensors: dict[str, Array] = {"ids": np.asarray(state.ids, np.int64)}
        for n, (keys, values) in enumerate(state.layers):
            tensors[f"layer.{n}.keys"], tensors[f"layer.{n}.values"] = keys, values
        meta = {"frame_keys": json.dumps(state.frame_keys), "layers": str(len(state.layers))}
        self._write("prefix", key, tensors, meta, note)

    def heard_key(self, video: Path, speech_model: Path | None, settings: object) -> str:
        """The key of what was heard in `video`'s audio with the speech model in
        `speech_model` (every file by content; None: loudness only) and the hearing
        `settings`."""
        audio = content_digest(video, self.memo)
        files = fingerprint(speech_model, self.memo) if speech_model is not None else None
        return _digest("heard", VERSION, audio, files, settings)

    def read_heard(self, key: str, note: Note) -> Hearing | None:
        """What was heard for `key`, or None (missing, or unusable: then removed)."""
        found = self._read("heard", key, note)
        if found is None:
            return None
        try:
            return heard_from(*found)
        except (KeyError, ValueError, TypeError, RecursionError):
            self._reject("heard", key, "its transcript is unreadable", note)
            return None

    def write_heard(self, key: str, heard: Hearing, note: Note) -> None:
        """Keep what was heard (a failed write is a note, never an error)."""
        tensors, meta = heard_entry(heard)
        self._write("heard", key, tensors, meta, note)

    def holds(self, kind: str, key: str) -> bool:
        """Whether an entry of `kind` ("frames", "prefix") is stored for `key` (unread)."""
        return self._path(kind, key).is_file()

    def forget(self, kind: str, key: str) -> None:
        """Remove one entry (one whose content the model refused), when the cache wrote it."""
        path = self._path(kind, key)
        if _written_here(path):
            with contextlib.suppress(OSError):
                path.unlink()

    def info(self) -> CacheInfo:
        """What the cache holds now."""
        files = self._files()
        return CacheInfo(self.root, len(files), sum(size for _, size, _ in files), self.limit_bytes)

    def clear(self) -> CacheInfo:
        """Remove every entry the cache wrote (and the digests it remembers); return what
        was removed. Any other file in the folder stays."""
        removed = self.info()
        for path, _, _ in self._files():
            with contextlib.suppress(OSError):
                path.unlink()
        for path in self.memo.glob("*") if self.memo.is_dir() else []:
            if _MEMO_NAME.fullmatch(path.name) and not path.is_symlink():
                with contextlib.suppress(OSError):
                    path.unlink()
        return removed

    def _path(self, kind: str, key: str) -> Path:
        return self.root / f"{kind}-{key}{SUFFIX}"

    def _files(self) -> list[tuple[Path, int, float]]:
        """The entries the cache wrote: (path, size, last use)."""
        found = []
        for kind in ("frames", "prefix", "heard"):
            for path in self.root.glob(f"{kind}-*{SUFFIX}"):
                with contextlib.suppress(OSError):
                    stat = path.lstat()
                    if _written_here(path):
                        found.append((path, stat.st_size, stat.st_mtime))
        return found

    def _read(
        self, kind: str, key: str, note: Note
    ) -> tuple[dict[str, Array], dict[str, str]] | None:
        from safetensors import SafetensorError, safe_open

        path = self._path(kind, key)
        if path.is_symlink() or not path.is_file():
            return None
        try:
            with safe_open(str(path), framework="np") as handle:
                meta = dict(handle.metadata() or {})
                tensors = {name: handle.get_tensor(name) for name in handle.keys()}  # noqa: SIM118
        except (OSError, SafetensorError, ValueError) as exc:
            self._reject(kind, key, f"it is damaged ({type(exc).__name__})", note)
            return None
        problem = _problem(kind, key, meta, tensors)
        if problem is not None:
            self._reject(kind, key, problem, note)
            return None
        with contextlib.suppress(OSError):
            os.utime(path)  # the least recently used go first
        return tensors, meta

    def _write(
        self, kind: str, key: str, tensors: dict[str, Array], meta: dict[str, str], note: Note
    ) -> None:
        from safetensors.numpy import save

        header = {
            "format": FORMAT,
            "version": VERSION,
            "kind": kind,
            "key": key,
            "checksum": _checksum(tensors),
            **meta,
        }
        data = save({name: np.ascontiguousarray(a) for name, a in tensors.items()}, header)
        path = self._path(kind, key)
        if len(data) > self.limit_bytes:
            return
        if (path.exists() or path.is_symlink()) and not _written_here(path):
            note(f"the video cache was not updated: {path} is not one of its entries")
            return
        try:
            atomic_write_bytes(path, data, durable=False, mode=0o600)
        except OutputError as error:
            note(f"the video cache was not updated: {error.message}")
            return
        self._trim(keep=path)

    def _trim(self, keep: Path) -> None:
        """Drop the least recently used entries until the cache fits its limit."""
        files = sorted(self._files(), key=lambda item: item[2])
        total = sum(size for _, size, _ in files)
        for path, size, _ in files:
            if total <= self.limit_bytes:
                break
            if path == keep:
                continue
            with contextlib.suppress(OSError):
                path.unlink()
                total -= size

    def _reject(self, kind: str, key: str, reason: str, note: Note) -> None:
        note(f"ignored a video cache entry ({reason}); building it again")
        self.forget(kind, key)


_MEMO_NAME = re.compile("[0-9a-f]{32}")
_ENTRY_NAME = re.compile(f"(frames|prefix|heard)-[0-9a-f]{{40}}{re.escape(SUFFIX)}")


def _problem(kind: str, key: str, meta: dict[str, str], tensors: dict[str, Array]) -> str | None:
    """Why an entry read back cannot be used (None: it can)."""
    if meta.get("format") != FORMAT or meta.get("version") != VERSION:
        return "it was written by another version"
    if meta.get("key") != key or meta.get("kind") != kind:
        return "it belongs to another video or model"
    if meta.get("checksum") != _checksum(tensors):
        return "its checksum does not match"
    if not all(np.isfinite(array).all() for array in tensors.values() if array.dtype.kind == "f"):
        return "it holds numbers that are not finite"
    return None


def _written_here(path: Path) -> bool:
    """Whether `path` is an entry of this cache: a regular file (not a link) named as only
    the cache names its entries, by kind and a 160-bit key (any other file in the folder is
    someone else's, and stays)."""
    return bool(_ENTRY_NAME.fullmatch(path.name)) and path.is_file() and not path.is_symlink()
