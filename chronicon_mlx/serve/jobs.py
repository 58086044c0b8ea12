"""Highlights as background jobs: each kept in a folder of its own (its request, its
state, the highlights checkpoint, the result JSON), run one at a time with every window
queued on the model thread beside chat requests. A job outlives the client that started
it; a restarted server resumes unfinished jobs from their checkpoints."""

from __future__ import annotations

import contextlib
import json
import secrets
import shutil
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import ChroniconError
from ..files import atomic_write_text, read_own
from ..machine import one_thread_for_torch
from ..paths import private_folder
from .errors import ApiError
from .queued import QueuedBackend
from .scheduler import Cancelled

if TYPE_CHECKING:
    from .state import ServerState

STATE_FILE = "job.json"
MAX_FILE = 256 * 2**20
RESULT_FILE = "result.json"
FINISHED = ("done", "failed")


@dataclass
class HighlightsJob:
    """One job: what it was asked, where it stands, and its windows so far."""

    ident: str
    folder: Path
    request: dict[str, Any]
    status: str = "queued"
    created: int = field(default_factory=lambda: int(time.time()))
    windows_total: int = 0
    windows: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None
    changed: threading.Condition = field(default_factory=threading.Condition)

    def public(self, with_result: bool = True) -> dict[str, Any]:
        """What the API shows of it."""
        body: dict[str, Any] = {
            "id": self.ident,
            "object": "highlights.job",
            "status": self.status,
            "created": self.created,
            "progress": {"windows_done": len(self.windows), "windows_total": self.windows_total},
        }
        if self.error:
            body["error"] = {"message": self.error, "type": "job_failed"}
        if with_result and self.status == "done":
            body["result"] = self.result()
        return body

    def result(self) -> Any:
        """The result JSON (as the CLI writes it)."""
        data = read_own(self.folder / RESULT_FILE, MAX_FILE)
        return None if data is None else json.loads(data.decode("utf-8"))

    def save(self) -> None:
        """Write its state (atomically)."""
        state = {
            "id": self.ident,
            "request": self.request,
            "status": self.status,
            "created": self.created,
            "error": self.error,
        }
        atomic_write_text(self.folder / STATE_FILE, json.dumps(state, indent=2))

    def update(self, **changes: Any) -> None:
        """Change it and wake whoever follows its events."""
        with self.changed:
            for name, value in changes.items():
                setattr(self, name, value)
            self.changed.notify_all()


class Jobs:
    """Every job of the server, and the thread that runs them."""

    def __init__(self, folder: Path, log: Callable[[str], None]) -> None:
        self.folder = private_folder(folder, "the server's jobs folder")
        self.log = log
        self.jobs: dict[str, HighlightsJob] = {}
        self._queue: list[HighlightsJob] = []
        self._wake = threading.Condition()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._state: ServerState | None = None
        self._read()

    def _read(self) -> None:
        for path in sorted(self.folder.glob(f"hl-*/{STATE_FILE}")):
            try:
                data = json.loads((read_own(path, MAX_FILE) or b"").decode("utf-8"))
                job = HighlightsJob(
                    data["id"], path.parent, data["request"], data["status"], data["created"]
                )
                job.error = data.get("error")
            except (ChroniconError, OSError, ValueError, KeyError, TypeError):
                continue
            self.jobs[job.ident] = job
            if job.status == "done":
                job.windows_total = len(_windows(job))
                job.windows = _windows(job)
            elif job.status not in FINISHED:
                job.status = "queued"
                self._queue.append(job)

    def ready(self, state: ServerState) -> None:
        """Start running jobs on the loaded model (resuming those left unfinished)."""
        self._state = state
        self._thread = threading.Thread(target=self._run, name="chronicon-jobs", daemon=True)
        self._thread.start()
        if self._queue:
            self.log(f"resuming {len(self._queue)} highlights job(s)")

    def create(self, request: dict[str, Any], video: Path | None) -> HighlightsJob:
        """A new queued job (an uploaded `video` moves into its folder)."""
        ident = f"hl-{secrets.token_hex(8)}"
        folder = private_folder(self.folder / ident, "a job's folder")
        if video is not None:
            kept = folder / f"upload{video.suffix}"
            shutil.move(str(video), kept)
            request = {**request, "video": str(kept), "uploaded": True}
        job = HighlightsJob(ident, folder, request)
        job.save()
        self.jobs[ident] = job
        with self._wake:
            self._queue.append(job)
            self._wake.notify()
        return job

    def get(self, ident: str) -> HighlightsJob:
        """A job by id; 404 when there is none."""
        job = self.jobs.get(ident)
        if job is None:
            raise ApiError(404, f"no highlights job '{ident}'", code="job_not_found")
        return job

    def stop(self) -> None:
        """Stop after the current window (a restart resumes from the checkpoint)."""
        self._stopping.set()
        with self._wake:
            self._wake.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def _run(self) -> None:
        while not self._stopping.is_set():
            with self._wake:
                while not self._queue and not self._stopping.is_set():
                    self._wake.wait()
                if self._stopping.is_set():
                    return
                job = self._queue.pop(0)
            self._one(job)

    def _one(self, job: HighlightsJob) -> None:
        from ..analysis.session import ModelSession
        from ..highlight.params import HighlightsConfig
        from ..highlight.run import HighlightFinder
        from ..options.profiles import get
        from ..output import highlights_path, write_highlights

        state = self._state
        assert state is not None and state.loaded is not None and state.scheduler is not None
        one_thread_for_torch()  # the model's work runs on the model thread
        request = job.request
        job.update(status="running")
        job.save()
        try:
            profile = get(request.get("profile") or "general")
            config = HighlightsConfig.for_profile(profile, **request.get("config", {}))
            backend = QueuedBackend(state.loaded.backend, state.scheduler, self._stopping)
            session = ModelSession.from_backend(backend, state.loaded.model)
            run = HighlightFinder(session, profile).start(request["video"], config, job.folder)
            job.update(windows_total=len(run.spans), windows=[])
            for window in run.windows():
                with job.changed:
                    job.windows.append(window.to_dict())
                    job.changed.notify_all()
            result = run.result()
            write_highlights(result, job.folder, ["json"], overwrite=True)
            highlights_path(result, job.folder, "json").replace(job.folder / RESULT_FILE)
            if state.settings.library is not None and not request.get("uploaded"):
                self._to_library(state.settings.library, result, job)
        except Cancelled:
            job.update(status="queued")
            job.save()
            return
        except ChroniconError as error:
            job.update(status="failed", error=error.message)
        except Exception as error:  # a job never takes the server down
            job.update(status="failed", error=f"{type(error).__name__}: {error}")
        else:
            job.update(status="done")
        job.save()
        if request.get("uploaded"):
            with contextlib.suppress(OSError):
                Path(request["video"]).unlink()
        self.log(f"highlights job {job.ident}: {job.status}")

    def _to_library(self, library: Path, result: Any, job: HighlightsJob) -> None:
        """Store a finished job's windows in the server's library (a failure there is
        logged; the job's result stands)."""
        from ..library.store import Library

        try:
            with Library.open(library) as store:
                added = store.add(result, job.folder)
        except ChroniconError as error:
            self.log(f"highlights job {job.ident}: not stored in the library ({error.message})")
        else:
            self.log(f"highlights job {job.ident}: {added} moments stored in the library")


def _windows(job: HighlightsJob) -> list[dict[str, Any]]:
    with contextlib.suppress(ChroniconError, OSError, ValueError, KeyError):
        windows: list[dict[str, Any]] = job.result()["windows"]
        return windows
    return []
