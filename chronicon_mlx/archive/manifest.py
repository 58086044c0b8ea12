"""The archive's manifest (`manifest.jsonl` in the output folder: one line per finished
video, appended as videos finish), the stable output names a rerun finds again, and which
videos a rerun can skip."""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ..errors import OutputError, render
from ..files import open_own, read_own
from .jobs import Job, Outcome

MANIFEST_NAME = "manifest.jsonl"


def output_names(videos: list[Path], folder: Path, command: str) -> list[Path]:
    """Each video's output in `folder`: ``<stem>.json`` for analyze, ``<stem>_highlights/``
    for highlights; videos that share a stem get a short hash of their path, so every
    run over the same archive picks the same names."""
    stems = [video.stem for video in videos]
    names = []
    for video, stem in zip(videos, stems, strict=True):
        if stems.count(stem) > 1:
            key = hashlib.sha256(str(video.resolve()).encode("utf-8")).hexdigest()[:8]
            stem = f"{stem}-{key}"
        names.append(folder / (f"{stem}.json" if command == "analyze" else f"{stem}_highlights"))
    return names


_FIELDS: dict[str, tuple[type, ...]] = {
    "command": (str,),
    "video": (str,),
    "status": (str,),
    "output": (str, type(None)),
    "seconds": (int, float),
    "error": (str, type(None)),
    "digest": (str,),
    "finished_at": (str,),
    "retry": (bool,),
    "worker": (str,),
}
MAX_MANIFEST_BYTES = 1 << 30
MAX_TEXT = 1 << 16


@dataclass(frozen=True)
class Entry:
    """One line of the manifest (`worker`: the host and process that did the video;
    `retry`: whether a rerun tries a failed video again)."""

    command: str
    video: str
    status: str
    output: str | None
    seconds: float
    error: str | None
    digest: str
    finished_at: str
    retry: bool = False
    worker: str = ""

    def as_dict(self) -> dict[str, Any]:
        """The line's fields."""
        return dict(self.__dict__)

    @classmethod
    def parse(cls, raw: bytes) -> Entry | None:
        """The entry a line holds, when it has exactly the fields this tool writes, each of
        its type and length (None: a line this tool did not write)."""
        try:
            data = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError, RecursionError):
            return None
        if not isinstance(data, dict) or not set(data) <= set(_FIELDS) or len(data) < 8:
            return None
        for key, value in data.items():
            kinds = _FIELDS[key]
            if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
                return None
            if isinstance(value, str) and len(value) > MAX_TEXT:
                return None
        if data["status"] not in ("ok", "failed") or not math.isfinite(data["seconds"]):
            return None
        try:
            return cls(**data)
        except TypeError:
            return None


class Manifest:
    """The manifest file of one output folder. Its lines are read as untrusted: a line must
    have the fields and types this tool writes, and an output where this tool puts that
    video's output (see `latest`)."""

    def __init__(self, folder: Path) -> None:
        self.path = folder / MANIFEST_NAME

    def _lines(self) -> list[bytes]:
        data = read_own(self.path, MAX_MANIFEST_BYTES)
        return [] if data is None else data.split(b"\n")

    def entries(self) -> list[Entry]:
        """Every line this tool could have written, oldest first (a line cut short by a
        crash, or one of another shape, is left out)."""
        return [entry for raw in self._lines() if (entry := Entry.parse(raw)) is not None]

    def latest(self, command: str, outputs: dict[str, Path]) -> dict[str, Entry]:
        """The last line of each video for `command` whose output is the one this tool gives
        that video (`outputs`: by the video's absolute path)."""
        found: dict[str, Entry] = {}
        for entry in self.entries():
            expected = outputs.get(entry.video)
            if entry.command == command and expected is not None and _fits(entry, expected):
                found[entry.video] = entry
        return found

    def repair(self) -> None:
        """Drop a torn last line (a run killed while appending), so that the next line
        appended starts a line of its own."""
        with contextlib.suppress(FileNotFoundError):
            fd = open_own(self.path, os.O_RDWR)
            try:
                size = os.fstat(fd).st_size
                if size == 0:
                    return
                tail = os.pread(fd, min(size, 1 << 20), max(0, size - (1 << 20)))
                if tail.endswith(b"\n"):
                    return
                cut = tail.rfind(b"\n")
                keep = size - len(tail) + cut + 1 if cut >= 0 else 0
                os.ftruncate(fd, keep)
                os.fsync(fd)
            finally:
                os.close(fd)

    def append(self, job: Job, video: Path, outcome: Outcome) -> Entry:
        """Add the line of a finished video (one write of the whole line, flushed to disk;
        never through a link)."""
        entry = Entry(
            command=job.command,
            video=str(video.absolute()),
            status=outcome.status,
            output=outcome.output,
            seconds=round(outcome.seconds, 3),
            error=render(outcome.error) if outcome.error else None,
            digest=job.digest(video),
            finished_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
            retry=outcome.retry,
            worker=outcome.worker,
        )
        data = (json.dumps(entry.as_dict(), ensure_ascii=False) + "\n").encode("utf-8")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = open_own(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
            try:
                os.write(fd, data)
                os.fsync(fd)
            finally:
                os.close(fd)
        except OSError as exc:
            raise OutputError(f"cannot write {self.path}: {exc.strerror or exc}") from exc
        return entry


def _fits(entry: Entry, expected: Path) -> bool:
    """Whether an entry's output is where this tool puts the video's output: the record
    itself, or the JSON report inside the video's highlights folder."""
    if entry.output is None:
        return entry.status == "failed"
    given = Path(entry.output)
    if expected.suffix == ".json":
        return given == expected
    return given.parent == expected and given.name == f"{Path(entry.video).stem}_highlights.json"


def _complete(output: Path) -> bool:
    """True when a record (or a highlights JSON report) is there and reads as JSON."""
    try:
        data = read_own(output, MAX_MANIFEST_BYTES)
        json.loads(data or b"")
    except (OSError, ValueError, RecursionError):
        return False
    return data is not None


def expected_outputs(videos: list[Path], outputs: list[Path]) -> dict[str, Path]:
    """Each video's output, by the video's absolute path (as the manifest names it)."""
    return {str(v.absolute()): o.absolute() for v, o in zip(videos, outputs, strict=True)}


def finished(job: Job, videos: list[Path], outputs: list[Path], manifest: Manifest) -> set[int]:
    """The positions of videos a rerun skips, those whose last line has the same parameters
    and the same video file: finished with a complete output, or failed for a reason of the
    video's own (it would fail again)."""
    latest = manifest.latest(job.command, expected_outputs(videos, outputs))
    done = set()
    for number, video in enumerate(videos):
        entry = latest.get(str(video.absolute()))
        if entry is None or entry.digest != job.digest(video):
            continue
        output = Path(entry.output) if entry.output else None
        complete = entry.status == "ok" and output is not None and _complete(output)
        if complete or (entry.status == "failed" and not entry.retry):
            done.add(number)
    return done


TEMPORARY = re.compile(r"\.(?P<name>.+)\.[a-z0-9_]{8}\.tmp")
"""A temporary file an atomic write leaves when it is killed: ``.<name>.<8 chars>.tmp``."""
HIGHLIGHTS_FILES = re.compile(
    r"checkpoint\.jsonl|\.chronicon-outputs\.json|.+_highlights\.(json|srt|vtt|md|html)|.+\.mp4"
    r"|\.attempts"
)
THUMBNAIL = re.compile(r"window-\d{4,}\.jpg")


def _leftovers(folder: Path, owned: re.Pattern[str]) -> list[Path]:
    """The temporary files in `folder` of atomic writes of files named as `owned` says."""
    found = []
    for path in folder.glob(".*.tmp") if folder.is_dir() and not folder.is_symlink() else []:
        match = TEMPORARY.fullmatch(path.name)
        if match and owned.fullmatch(match.group("name")) and not path.is_dir():
            found.append(path)
    return found


def remove_leftovers(outputs: list[Path]) -> None:
    """Remove what a killed worker can leave beside an output: the hidden temporary files
    of the tool's own atomic writes, and the count of attempts. Only names the tool writes
    are touched (a temporary file of yours stays)."""
    for output in outputs:
        if output.suffix == ".json":
            name = re.escape(output.name)
            record = re.compile(rf"{name}|\.{name}\.attempts")
            leftovers = _leftovers(output.parent, record)
            leftovers.append(output.with_name(f".{output.name}.attempts"))
        else:
            leftovers = _leftovers(output, HIGHLIGHTS_FILES)
            leftovers += _leftovers(output / "thumbs", THUMBNAIL)
            leftovers.append(output / ".attempts")
        for leftover in leftovers:
            if leftover.is_file() or leftover.is_symlink():
                with contextlib.suppress(OSError):
                    leftover.unlink()
