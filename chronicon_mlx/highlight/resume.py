"""The JSONL checkpoint of a highlights run: a header with the run's parameters, then one
line per finished window, appended and flushed as each window ends."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any, TextIO

from ..errors import OutputError, field
from .result import WindowResult

CHECKPOINT_NAME = "checkpoint.jsonl"


def parameters_key(parameters: dict[str, Any]) -> str:
    """A stable digest of everything that changes what a window's answer would be."""
    text = json.dumps(parameters, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def load(path: Path, parameters: dict[str, Any]) -> tuple[dict[int, WindowResult], str | None]:
    """Finished windows from a checkpoint made with the same parameters.

    Returns (windows by number, a note for the user or None). A checkpoint made with other
    parameters, or one that cannot be read, is not reused; a torn last line (the run was
    killed mid-write) is ignored.
    """
    if not path.is_file():
        return {}, None
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return {}, f"cannot read the checkpoint {path}; starting over"
    try:
        header = json.loads(lines[0]) if lines else {}
    except ValueError:
        header = {}
    if header.get("key") != parameters_key(parameters):
        changed = _changed(header.get("parameters", {}), parameters)
        what = f" ({', '.join(changed)} changed)" if changed else ""
        return {}, f"the checkpoint {path} was made with different parameters{what}; starting over"
    done: dict[int, WindowResult] = {}
    for line in lines[1:]:
        try:
            window = WindowResult.from_dict(json.loads(line))
        except (ValueError, KeyError, TypeError):
            continue
        done[window.number] = window
    return done, None


def _changed(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    return sorted(key for key in set(old) | set(new) if old.get(key) != new.get(key))


class Checkpoint:
    """Appends finished windows. The file is first rewritten with the header and the windows
    being reused, so a torn line from an interrupted write never stays in it."""

    def __init__(self, path: Path, parameters: dict[str, Any], done: dict[int, WindowResult]):
        self.path = path
        self._handle: TextIO | None = None
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            header = {"key": parameters_key(parameters), "parameters": parameters}
            lines = [header] + [done[n].to_dict() for n in sorted(done)]
            tmp = path.with_name(f".{path.name}.tmp")
            tmp.write_text(
                "".join(json.dumps(line, ensure_ascii=False) + "\n" for line in lines),
                encoding="utf-8",
            )
            os.replace(tmp, path)
            self._handle = path.open("a", encoding="utf-8")
        except OSError as exc:
            raise OutputError(
                f"cannot write the checkpoint {path}: {exc.strerror or exc}",
                hint=f"choose another {field('output')} folder",
            ) from exc

    def append(self, window: WindowResult) -> None:
        """Record one finished window durably."""
        assert self._handle is not None
        self._handle.write(json.dumps(window.to_dict(), ensure_ascii=False) + "\n")
        self._handle.flush()
        os.fsync(self._handle.fileno())

    def close(self) -> None:
        """Close the file (the checkpoint stays for later reruns)."""
        if self._handle is not None:
            self._handle.close()
            self._handle = None
