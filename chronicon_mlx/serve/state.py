"""What the running server holds: its settings, the model (loaded in the background, so
that the server answers `/health` from the start), the model thread, and how many requests
it has taken in."""

from __future__ import annotations

import concurrent.futures
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..analysis.session import LoadedModel, ModelSession
from ..analysis.spec import SessionSpec
from ..errors import ChroniconError
from ..machine import one_thread_for_torch
from ..model.catalog import find_spec
from .errors import ApiError
from .media import Media
from .metrics import Metrics
from .prepare import Caps, Preparer
from .scheduler import Scheduler


@dataclass(frozen=True)
class ServeSettings:
    """How the server runs (the `serve` command's options)."""

    spec: SessionSpec = field(default_factory=SessionSpec)
    host: str = "127.0.0.1"
    port: int = 8000
    api_key: str | None = None
    media_roots: tuple[Path, ...] = ()
    max_batch: int = 8
    max_queue: int = 32
    max_upload_mb: int = 200
    max_body_mb: int = 300
    caps: Caps = field(default_factory=Caps)
    jobs_folder: Path | None = None
    library: Path | None = None


class ServerState:
    """The model and everything around it."""

    def __init__(self, settings: ServeSettings, log: Callable[[str], None]) -> None:
        self.settings = settings
        self.log = log
        self.metrics = Metrics()
        self.started = int(time.time())
        self.status = "loading"
        self.failure: str | None = None
        self.loaded: LoadedModel | None = None
        self.session: ModelSession | None = None
        self.scheduler: Scheduler | None = None
        self.preparer: Preparer | None = None
        self.jobs: Any = None
        self._uploads = tempfile.TemporaryDirectory(prefix="chronicon-serve-")
        Path(self._uploads.name).chmod(0o700)
        limit = settings.max_upload_mb * 2**20
        self.media = Media(list(settings.media_roots), limit, Path(self._uploads.name))
        # Requests are prepared (frames decoded, cache read) one at a time beside the model.
        self.preparing = concurrent.futures.ThreadPoolExecutor(
            1, "chronicon-prepare", initializer=one_thread_for_torch
        )
        self._admitted = 0
        self._admit_lock = threading.Lock()
        self.metrics.gauges["chronicon_model_ready"] = lambda: float(self.status == "ready")

    def load(self) -> None:
        """Load the model in the background, in the thread that then runs it."""
        threading.Thread(target=self._load, name="chronicon-model", daemon=True).start()

    def _load(self) -> None:
        try:
            session = ModelSession(self.settings.spec)
            loaded = session.load(max_tokens=self.settings.caps.max_tokens)
        except ChroniconError as error:
            self.failure = error.message
            self.status = "failed"
            self.log(f"the model could not be loaded: {error.message}")
            return
        s = self.settings
        scheduler = Scheduler(loaded.backend, s.max_batch, s.max_queue, self.metrics)
        self.session, self.loaded, self.scheduler = session, loaded, scheduler
        self.preparer = Preparer(session, loaded, self.media, s.caps, lambda: scheduler.lock)
        if self.jobs is not None:
            self.jobs.ready(self)
        self.status = "ready"
        info = loaded.backend.info
        batching = "batched" if scheduler.batched else "one request at a time"
        self.log(f"ready: {loaded.model.name} on {info.name} ({info.device}, {batching})")
        scheduler.run()  # this thread, which loaded the model, runs it from here

    @property
    def model_id(self) -> str:
        """The id clients name the model by."""
        if self.loaded is not None:
            return self.loaded.model.name
        return self.settings.spec.model

    def names(self) -> set[str]:
        """Every name a request may give the model by: its id, what the server was started
        with, and the catalog alias of either."""
        names = {self.model_id, self.settings.spec.model}
        for name in list(names):
            found = find_spec(name)
            if found is not None:
                names.update({found.alias, found.name, found.hub_id, found.mlx_hub_id})
        return names

    def require_ready(self) -> tuple[Scheduler, Preparer, LoadedModel]:
        """The model thread, the preparer and the model; 503 while loading."""
        if self.status != "ready" or self.scheduler is None or self.preparer is None:
            if self.status == "failed":
                raise ApiError(503, f"the model failed to load: {self.failure}", "server_error")
            raise ApiError(
                503,
                "the model is still loading",
                "server_error",
                code="model_loading",
                headers={"Retry-After": "5"},
            )
        assert self.loaded is not None
        return self.scheduler, self.preparer, self.loaded

    def admit(self) -> None:
        """Take a request in; 429 when as many are in as the queue and the batch hold."""
        s = self.settings
        with self._admit_lock:
            if self._admitted >= s.max_queue + s.max_batch:
                raise ApiError(
                    429,
                    f"the server is busy ({self._admitted} requests in); retry shortly",
                    "rate_limit_error",
                    code="queue_full",
                    headers={"Retry-After": "1"},
                )
            self._admitted += 1

    def release(self) -> None:
        """A request taken in is over."""
        with self._admit_lock:
            self._admitted -= 1

    def close(self) -> None:
        """Stop the model thread and the jobs; remove leftover uploads."""
        if self.jobs is not None:
            self.jobs.stop()
        if self.scheduler is not None:
            self.scheduler.stop()
        self.preparing.shutdown(wait=False, cancel_futures=True)
        self._uploads.cleanup()
