"""The JSONL checkpoint of a highlights run: a header with the run's parameters, then one
line per finished window, appended and flushed as each window ends.

A checkpoint is read as untrusted input: every line is checked against the windows the run
plans, and a line that does not fit is skipped (and said), never trusted.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TypeGuard

from ..errors import OutputError, field
from ..files import atomic_write_text, open_own, read_own
from ..text import json_text
from .params import WindowSpan
from .result import WindowResult
from .thumbnails import thumbnail_name

CHECKPOINT_NAME = "checkpoint.jsonl"
MAX_CHECKPOINT_BYTES = 1 << 30
TIME_TOLERANCE_S = 0.002


def parameters_key(parameters: dict[str, Any]) -> str:
    """A stable digest of everything that changes what a window's answer would be."""
    text = json.dumps(parameters, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def load(
    path: Path, parameters: dict[str, Any], spans: Sequence[WindowSpan], exact: bool = True
) -> tuple[dict[int, WindowResult], list[str]]:
    """Finished windows from a checkpoint made with the same parameters, each checked
    against the planned `spans` (`exact`: frames must be among the planned ones).

    Returns (windows by number, notes for the user). A checkpoint made with other
    parameters is not reused; a torn last line (the run was killed mid-write) is ignored;
    any other line that does not fit the plan is skipped with one note.
    """
    if path.is_symlink() or (path.exists() and not path.is_file()):
        return {}, [
            f"{path} is not a file of this tool's (a link, a pipe or a device): it is"
            " replaced, never followed"
        ]
    try:
        data = read_own(path, MAX_CHECKPOINT_BYTES)
    except OSError as exc:
        return {}, [f"cannot read the checkpoint {path} ({exc.strerror}); starting over"]
    if data is None:
        return {}, []
    lines = data.split(b"\n")
    header = _json(lines[0]) if lines else None
    if not _is_header(header):
        raise OutputError(
            f"{path} exists and was not written by this tool",
            hint=f"move it away, choose another {field('output')} folder, or use"
            f" {field('fresh')} to replace it",
        )
    if header.get("key") != parameters_key(parameters):
        old = header.get("parameters", {}) if isinstance(header, dict) else {}
        changed = _changed(old if isinstance(old, dict) else {}, parameters)
        what = f" ({', '.join(changed)} changed)" if changed else ""
        return {}, [
            f"the checkpoint {path} was made with different parameters{what}; starting over"
        ]
    body = lines[1:]
    while body and not body[-1].strip():
        body.pop()
    torn = bool(body) and not data.endswith(b"\n") and _json(body[-1]) is None
    done: dict[int, WindowResult] = {}
    invalid = 0
    for raw in body[:-1] if torn else body:
        window = _window(_json(raw), spans, exact)
        if window is None or window.number in done:
            invalid += 1
            continue
        done[window.number] = window
    notes = []
    if invalid:
        lines_, again = ("line", "it is") if invalid == 1 else ("lines", "they are")
        notes.append(
            f"the checkpoint {path} has {invalid} invalid {lines_} (skipped: {again} scored"
            f" again); use {field('fresh')} to start over"
        )
    return done, notes


def _json(raw: bytes) -> Any:
    try:
        return json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        return None


def _is_header(data: Any) -> TypeGuard[dict[str, Any]]:
    """Whether a first line is the header this tool writes: its key and its parameters."""
    return (
        isinstance(data, dict)
        and set(data) == {"key", "parameters"}
        and isinstance(data["key"], str)
        and isinstance(data["parameters"], dict)
    )


def _changed(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    return sorted(key for key in set(old) | set(new) if old.get(key) != new.get(key))


def _window(data: Any, spans: Sequence[WindowSpan], exact: bool) -> WindowResult | None:
    """The window a checkpoint line holds, when every field fits the plan; else None."""
    if not isinstance(data, dict):
        return None
    number = data.get("window")
    if not _whole(number) or not 0 <= number < len(spans):
        return None
    span = spans[number]
    try:
        window = WindowResult.from_dict(data)
    except (KeyError, TypeError, ValueError):
        return None
    fits = (
        _same_time(data.get("start_s"), span.start_s)
        and _same_time(data.get("end_s"), span.end_s)
        and _score_fits(data.get("significance"), data.get("description"))
        and isinstance(data.get("raw"), str)
        and data.get("attempts") in (1, 2)
        and isinstance(data.get("constrained"), bool)
        and all(_whole(data.get(k)) and data[k] >= 0 for k in _COUNTS)
        and _frames_fit(data, span, exact)
        and data.get("thumbnail") in (None, thumbnail_name(number))
    )
    return window if fits else None


_COUNTS = ("prompt_tokens", "cached_tokens", "generated_tokens")


def _whole(value: Any) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _same_time(value: Any, planned: float) -> bool:
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    return number and math.isfinite(value) and abs(value - planned) <= TIME_TOLERANCE_S


def _score_fits(significance: Any, description: Any) -> bool:
    if significance is None:
        return description is None or isinstance(description, str)
    return (
        _whole(significance)
        and 1 <= significance <= 10
        and isinstance(description, str)
        and bool(description.strip())
    )


def _frames_fit(data: dict[str, Any], span: WindowSpan, exact: bool) -> bool:
    frames, times = data.get("frames"), data.get("frame_times_s")
    if not isinstance(frames, list) or not isinstance(times, list) or len(frames) != len(times):
        return False
    if not frames or not all(_whole(i) for i in frames) or frames != sorted(set(frames)):
        return False
    if exact and not set(frames) <= set(span.indices):
        return False
    low, high = span.start_s - 1.0, span.end_s + 1.0
    return all(
        isinstance(t, (int, float)) and not isinstance(t, bool) and low <= t <= high for t in times
    )


class Checkpoint:
    """Appends finished windows. The file is first rewritten (atomically, through a fresh
    temporary file) with the header and the windows being reused, so a torn line from an
    interrupted write never stays in it; appends never follow a planted link."""

    def __init__(self, path: Path, parameters: dict[str, Any], done: dict[int, WindowResult]):
        self.path = path
        header = {"key": parameters_key(parameters), "parameters": parameters}
        lines = [header] + [done[n].to_dict() for n in sorted(done)]
        atomic_write_text(path, "".join(json_text(line, indent=None) + "\n" for line in lines))
        try:
            self._fd: int | None = open_own(path, os.O_WRONLY | os.O_APPEND)
        except OSError as exc:
            raise self._error(exc) from exc

    def _error(self, exc: OSError) -> OutputError:
        return OutputError(
            f"cannot write the checkpoint {self.path}: {exc.strerror or exc}",
            hint=f"check the free space, or choose another {field('output')} folder",
        )

    def append(self, window: WindowResult) -> None:
        """Record one finished window durably."""
        if self._fd is None:
            raise OutputError(f"the checkpoint {self.path} is closed", hint="rerun the command")
        data = (json_text(window.to_dict(), indent=None) + "\n").encode("utf-8")
        try:
            os.write(self._fd, data)
            os.fsync(self._fd)
        except OSError as exc:
            raise self._error(exc) from exc

    def close(self) -> None:
        """Close the file (the checkpoint stays for later reruns)."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
