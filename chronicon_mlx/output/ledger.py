"""The files a highlights run wrote into its folder, kept in the folder itself: the proof the
tool needs before it replaces or removes a report. A file that is not in the ledger, or
that changed since the tool wrote it, is someone else's."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import OutputError
from ..errors import field as setting
from ..files import atomic_write_text, read_own

LEDGER_NAME = ".chronicon-outputs.json"
MAX_LEDGER_BYTES = 1 << 20


def _stamp(path: Path) -> tuple[int, int] | None:
    """(size, modification time) of a regular file that is not a link; else None."""
    try:
        info = path.lstat()
    except OSError:
        return None
    if path.is_symlink() or not path.is_file():
        return None
    return info.st_size, info.st_mtime_ns


def _valid(name: object, stamp: object) -> bool:
    return (
        isinstance(name, str)
        and bool(name)
        and "/" not in name
        and name not in (".", "..")
        and isinstance(stamp, list)
        and len(stamp) == 2
        and all(isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in stamp)
    )


@dataclass
class Ledger:
    """The reports and reels the tool wrote into `folder`, each with the size and
    modification time it had then."""

    folder: Path
    files: dict[str, tuple[int, int]] = field(default_factory=dict)

    @classmethod
    def read(cls, folder: Path) -> Ledger:
        """The folder's ledger (empty when there is none, or when it is not one the tool
        wrote: then nothing in the folder is taken as the tool's)."""
        try:
            data = json.loads(read_own(folder / LEDGER_NAME, MAX_LEDGER_BYTES) or b"{}")
        except (OSError, OutputError, ValueError, RecursionError):
            return cls(folder)
        entries = data.get("files") if isinstance(data, dict) else None
        if not isinstance(entries, dict):
            return cls(folder)
        files = {n: (s[0], s[1]) for n, s in entries.items() if _valid(n, s)}
        return cls(folder, files)

    def owns(self, path: Path) -> bool:
        """Whether `path` (in the folder) is a file the tool wrote and nobody changed since."""
        stamp = _stamp(path)
        return (
            path.parent == self.folder and stamp is not None and self.files.get(path.name) == stamp
        )

    def check(self, path: Path, overwrite: bool = False) -> None:
        """Fail before any work when writing `path` would replace a file the tool did not
        write (unless `overwrite`)."""
        exists = path.exists() or path.is_symlink()
        if exists and not overwrite and not self.owns(path):
            raise OutputError(
                f"{path} exists and was not written by this tool",
                hint=f"move it away, choose another {setting('output')}, or use"
                f" {setting('fresh')} to replace it",
            )

    def add(self, path: Path) -> None:
        """Record a file the tool has just written into the folder."""
        stamp = _stamp(path)
        if stamp is not None and path.parent == self.folder:
            self.files[path.name] = stamp

    def drop(self, path: Path) -> None:
        """Forget a file the tool removed."""
        self.files.pop(path.name, None)

    def save(self) -> None:
        """Write the ledger into the folder (atomically)."""
        data = {"files": {name: list(stamp) for name, stamp in sorted(self.files.items())}}
        atomic_write_text(self.folder / LEDGER_NAME, json.dumps(data, indent=1) + "\n")
