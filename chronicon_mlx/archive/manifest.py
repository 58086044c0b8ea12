"""The archive's manifest (`manifest.jsonl` in the output folder: one line per finished
video, appended as videos finish), the stable output names a rerun finds again, and which
videos a rerun can skip."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ..errors import OutputError, render
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


class Manifest:
    """The manifest file of one output folder."""

    def __init__(self, folder: Path) -> None:
        self.path = folder / MANIFEST_NAME

    def entries(self) -> list[Entry]:
        """Every readable line, oldest first (a line cut short by a crash is skipped)."""
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return []
        except OSError as exc:
            raise OutputError(f"cannot read {self.path}: {exc.strerror or exc}") from exc
        found = []
        for raw in text.splitlines():
            with contextlib.suppress(ValueError, TypeError):
                found.append(Entry(**json.loads(raw)))
        return found

    def latest(self, command: str) -> dict[str, Entry]:
        """The last line of each video for `command`."""
        return {e.video: e for e in self.entries() if e.command == command}

    def append(self, job: Job, video: Path, outcome: Outcome) -> Entry:
        """Add the line of a finished video (one write of the whole line, flushed to disk)."""
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
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
            try:
                os.write(fd, data)
                os.fsync(fd)
            finally:
                os.close(fd)
        except OSError as exc:
            raise OutputError(f"cannot write {self.path}: {exc.strerror or exc}") from exc
        return entry


def _complete(output: Path) -> bool:
    """True when a record (or a highlights JSON report) is there and reads as JSON."""
    try:
        json.loads(output.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return True


def finished(job: Job, videos: list[Path], manifest: Manifest) -> set[int]:
    """The positions of videos a rerun skips, those whose last line has the same parameters
    and the same video file: finished with a complete output, or failed for a reason of the
    video's own (it would fail again)."""
    latest = manifest.latest(job.command)
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


def remove_leftovers(outputs: list[Path]) -> None:
    """Remove what a killed worker can leave beside an output: the hidden temporary file a
    record is written to before it is renamed into place, and the count of attempts."""
    for output in outputs:
        record = output.suffix == ".json"
        folder = output.parent if record else output
        patterns = (
            [f".{output.name}.*.tmp", f".{output.name}.attempts"]
            if record
            else [".*.tmp", ".attempts"]
        )
        for pattern in patterns if folder.is_dir() else []:
            for leftover in folder.glob(pattern):
                with contextlib.suppress(OSError):
                    leftover.unlink()
