"""Files on disk: atomic writes, writability checks made before any work, the folder lock
of a highlights run, and output names that never collide."""

from __future__ import annotations

import contextlib
import os
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from .errors import OutputError, field

LOCK_NAME = ".lock"
_NO_SAVE = f"choose another {field('output')}, or use {field('no_save')}"


def can_create_in(folder: Path) -> bool:
    """True when a file can really be created in `folder` (permission bits do not stop the
    superuser; a read-only mount or an immutable folder does)."""
    try:
        with tempfile.TemporaryFile(dir=folder):
            return True
    except OSError:
        return False


def _existing_parent(path: Path) -> Path:
    existing = path
    while not existing.exists():
        existing = existing.parent
    return existing


def check_writable(path: Path) -> None:
    """Fail early, before any model work, when the file `path` cannot be written: a folder,
    a device, a FIFO or any other existing thing that is not a regular file is refused (an
    atomic write would replace it)."""
    if path.is_dir():
        raise OutputError(
            f"output path {path} is a folder", hint="pass a file name such as result.json"
        )
    if path.exists() and not path.is_file():
        raise OutputError(
            f"output path {path} exists and is not a regular file (a device, a FIFO or a socket)",
            hint="pass the name of a new or ordinary file",
        )
    existing = _existing_parent(path.parent)
    if not existing.is_dir() or not can_create_in(existing):
        raise OutputError(
            f"cannot write {path}: {existing} is not a writable folder", hint=_NO_SAVE
        )
    if path.exists() and not os.access(path, os.W_OK):
        raise OutputError(f"cannot write {path}: the file is read-only", hint=_NO_SAVE)


def check_folder(folder: Path) -> None:
    """Fail early when files cannot be created in `folder` (made later if missing)."""
    if folder.exists() and not folder.is_dir():
        raise OutputError(
            f"output {folder} is a file, not a folder", hint=f"give {field('output')} a folder"
        )
    existing = _existing_parent(folder)
    if not existing.is_dir() or not can_create_in(existing):
        raise OutputError(
            f"cannot write into {folder}: {existing} is not writable",
            hint=f"choose another {field('output')}",
        )


def unique_path(path: Path, taken: set[Path]) -> Path:
    """`path`, or `path` with -2, -3, ... before its suffix if this run already used it."""
    candidate, number = path, 1
    while candidate in taken:
        number += 1
        candidate = path.with_name(f"{path.stem}-{number}{path.suffix}")
    taken.add(candidate)
    return candidate


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current


def atomic_write_text(path: Path, text: str) -> Path:
    """Write `text` to `path` so readers see the old file or the new one, never a part."""
    return atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_bytes(
    path: Path, data: bytes, durable: bool = True, mode: int | None = None
) -> Path:
    """Write `data` to `path` so readers see the old file or the new one, never a part
    (`durable`: on disk before it replaces the old one, not only in the page cache; `mode`:
    the file's permissions, else those the umask gives)."""
    with _written_temp(path, data, durable, mode) as tmp:
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
def _written_temp(
    path: Path, data: bytes, durable: bool = True, mode: int | None = None
) -> Iterator[str]:
    """A temporary file beside `path` holding `data` (flushed to disk when `durable`, with
    `mode` or the umask's permissions); removed afterwards (whatever the body did with
    it). Any OSError becomes an OutputError naming `path`."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise OutputError(f"cannot write {path}: {exc.strerror or exc}", hint=_NO_SAVE) from exc
    try:
        os.fchmod(fd, 0o666 & ~_umask() if mode is None else mode)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            if durable:
                os.fsync(handle.fileno())
        yield tmp
    except OSError as exc:
        raise OutputError(
            f"cannot write {path}: {exc.strerror or exc}",
            hint=f"check the free space and permissions, or use {field('no_save')}",
        ) from exc
    finally:
        with contextlib.suppress(OSError):
            os.unlink(tmp)


@contextlib.contextmanager
def folder_lock(
    folder: Path, waiting: Callable[[], None] | None = None, poll_s: float = 0.2
) -> Iterator[None]:
    """Hold the output folder for one run: a second run into it fails at once instead of
    mixing its checkpoint lines and reports with the first one's (with `waiting`, it is
    called once and the run waits for the folder instead). The lock file is removed when
    the run ends; a link planted in its place is refused, never followed."""
    path = folder / LOCK_NAME
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd = _lock(path)
        if fd is None and waiting is not None:
            waiting()
            while fd is None:
                time.sleep(poll_s)
                fd = _lock(path)
    except OSError as exc:
        raise OutputError(
            f"cannot lock {folder}: {exc.strerror or exc}",
            hint=f"choose another {field('output')} folder",
        ) from exc
    if fd is None:
        raise OutputError(
            f"another run is writing into {folder}",
            hint=f"wait for it to finish, or choose another {field('output')} folder",
        )
    try:
        yield
    finally:
        with contextlib.suppress(OSError):
            os.unlink(path)
        os.close(fd)


def _lock(path: Path) -> int | None:
    """The locked lock file's descriptor, or None when another run holds it. A file that
    was removed (its run ended) between opening and locking is opened again."""
    import fcntl

    flags = os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
    while True:
        try:
            fd = os.open(path, flags, 0o644)
        except OSError as exc:
            if path.is_symlink():
                raise OSError(exc.errno, f"{path.name} is a symbolic link, not a lock") from exc
            raise
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return None
        try:
            same = os.stat(path, follow_symlinks=False).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            same = False
        if same:
            return fd
        os.close(fd)


def _not_ours(path: Path, what: str) -> OutputError:
    return OutputError(
        f"{path} is {what}, where this tool keeps a file of its own",
        hint="remove it (the tool never follows a link or reads from a pipe or a device there),"
        f" or choose another {field('output')}",
    )


def open_own(path: Path, flags: int = os.O_RDONLY, mode: int = 0o644) -> int:
    """Open a file the tool keeps in one of its folders: never through a symbolic link, and
    never a FIFO, a device or a socket (opened without waiting, so a FIFO cannot hang the
    run). An OutputError names what is there instead."""
    import fcntl
    import stat

    safe = flags | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0) | os.O_NONBLOCK
    try:
        fd = os.open(path, safe, mode)
    except OSError as exc:
        if path.is_symlink():
            raise _not_ours(path, "a symbolic link") from exc
        raise
    kind = os.fstat(fd).st_mode
    if not stat.S_ISREG(kind):
        os.close(fd)
        raise _not_ours(path, "a folder" if stat.S_ISDIR(kind) else "not a regular file")
    fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) & ~os.O_NONBLOCK)
    return fd


def read_own(path: Path, limit: int) -> bytes | None:
    """The bytes of a file the tool wrote earlier in one of its folders (None when there is
    none), through `open_own`; an OutputError when it is larger than `limit` bytes."""
    try:
        fd = open_own(path)
    except FileNotFoundError:
        return None
    with os.fdopen(fd, "rb") as handle:
        data = handle.read(limit + 1)
    if len(data) > limit:
        raise OutputError(
            f"{path} is larger than this tool ever writes it ({limit:,} bytes at most)",
            hint="it was not written by this tool: remove it, or choose another folder",
        )
    return data


def own_folder(folder: Path) -> Path:
    """A folder the tool makes for itself inside an output folder (``thumbs``, a video's
    folder in a batch): made when missing; an OutputError when a link, a file or anything
    else is there (it is never followed)."""
    try:
        folder.parent.mkdir(parents=True, exist_ok=True)
        folder.mkdir(exist_ok=True)
    except FileExistsError:
        pass
    except OSError as exc:
        raise OutputError(
            f"cannot make {folder}: {exc.strerror or exc}",
            hint=f"choose another {field('output')}",
        ) from exc
    if folder.is_symlink():
        raise _not_ours(folder, "a symbolic link")
    if not folder.is_dir():
        raise _not_ours(folder, "not a folder")
    return folder


def built_once(folder: Path, done: str, build: Callable[[Path], object]) -> Path:
    """`folder`, built by `build(folder)` on first use under a lock, so concurrent callers
    build it once; `done` names the file that marks a finished build. A build is written
    to a temporary sibling and renamed into place; what a killed one left is cleared."""
    import fcntl
    import shutil

    if (folder / done).is_file():
        return folder
    try:
        folder.parent.mkdir(parents=True, exist_ok=True)
        lock = open(folder.parent / f".{folder.name}.lock", "w")  # noqa: SIM115
    except OSError as exc:
        raise OutputError(
            f"cannot make the folder {folder.parent}: {exc.strerror or exc}",
            hint="CHRONICON_CACHE must name a folder you can write (or leave it unset)",
        ) from exc
    with lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        for leftover in folder.parent.glob(f".{folder.name}.*"):
            if leftover.is_dir() and not leftover.is_symlink():  # a killed build's
                shutil.rmtree(leftover, ignore_errors=True)
        if not (folder / done).is_file():
            build_into(folder, build)
    return folder


def build_into(folder: Path, build: Callable[[Path], object]) -> Path:
    """`build(tmp)` writes into a temporary sibling of `folder`, which then replaces
    `folder`: a crash leaves nothing half-built in its place."""
    import shutil

    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
    try:
        build(tmp)
        if folder.exists():
            shutil.rmtree(folder)
        os.replace(tmp, folder)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return folder
