"""The served backend as a highlights job sees it: each request queued on the model thread
beside the chat requests, and waited for."""

from __future__ import annotations

import threading
import time
from typing import Any

from ..backends import GenerationOutput, GenerationRequest
from ..backends.base import TokenCallback
from .scheduler import Cancelled, Job, QueueFull, Scheduler

RETRY_S = 0.2


class QueuedBackend:
    """A backend whose `generate` runs on the scheduler's thread."""

    def __init__(self, backend: Any, scheduler: Scheduler, cancelled: threading.Event) -> None:
        self.backend = backend
        self.scheduler = scheduler
        self.cancelled = cancelled
        self.info = backend.info
        self.supports_json_schema = backend.supports_json_schema

    def load(self, model: Any, quantize: str | None = None) -> list[str]:
        """Loaded already."""
        return []

    def prompt_ids(self, request: GenerationRequest) -> list[int]:
        """The served backend's token ids for `request`."""
        with self.scheduler.lock:
            ids: list[int] = self.backend.prompt_ids(request)
        return ids

    def generate(
        self, request: GenerationRequest, on_token: TokenCallback | None = None
    ) -> GenerationOutput:
        """Queue the request (waiting while the queue is full) and wait for its answer."""
        finished = threading.Event()
        result: dict[str, Any] = {}

        def done(output: GenerationOutput | None, error: BaseException | None) -> None:
            result["output"], result["error"] = output, error
            finished.set()

        job = Job(request, on_token, done)
        while True:
            if self.cancelled.is_set():
                raise Cancelled("the job was cancelled")
            try:
                self.scheduler.submit(job)
                break
            except QueueFull:
                time.sleep(RETRY_S)
        while not finished.wait(RETRY_S):
            if self.cancelled.is_set():
                job.cancel()
                self.scheduler.wake()
        error = result.get("error")
        if error is not None:
            raise error
        output: GenerationOutput = result["output"]
        return output
