"""The model's thread: requests wait in a bounded queue and run there.

On a backend that batches (the cpu engine), every running request's decode advances in one
step, a request joins at the next step and leaves when done (continuous batching). A new
request's frames are encoded between steps (a vision layer of one frame at a time), and
its prompt is prefilled within them (a few rows in the same forward as the running
requests' tokens), so that running streams keep flowing and requests that arrive
together join together. Elsewhere requests run one at a time.
"""

from __future__ import annotations

import collections
import contextlib
import math
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from ..backends.base import Batched, GenerationOutput, GenerationRequest
from ..machine import release_freed_memory
from .fairlock import FairLock
from .metrics import Metrics

PREFILL_ROWS = 64
"""Prompt rows prefilled per decode step, in the step's forward with the running requests'
tokens (and the size of a prompt's chunks). More rows prefill a new prompt in fewer steps
but make each of them longer for the running streams. With 64, two running streams'
longest gap between tokens while a third request's 8 new frames were encoded and
prefilled was 0.23 s (256M model, 2 cores of an AMD EPYC Zen 4, `make bench-serve`)."""


GATHER_S = 0.15
"""How long an idle model thread waits, before it starts a request, for the others being
prepared beside it (announced, not yet queued): requests that arrive together then prefill
in one step and stream together, instead of each later one waiting for the steps the
earlier ones started. Four requests that reach an idle server at once are prepared within
about 0.06 s (256M model, 2 cores of an AMD EPYC Zen 4, traced in the server as 4
streams about a cached video started together); a request that arrives alone never waits."""


PREPARE_BUDGET_S = 0.15
"""Time the preparation of new requests may take between two decode steps (their prompt
rows aside, which run in the steps): another slice runs while the last one's time, added
to what ran, still fits. A vision layer of one frame (about 0.1 s for the 256M model) runs
alone; the first slice of a question about a cached video (its prefix copied) takes a few
milliseconds, so several requests that arrive together reach their prompt rows, and the
same step, together."""


class QueueFull(Exception):
    """The queue holds as many requests as it may."""


class Cancelled(Exception):
    """The request was cancelled (its client went away, or the server is stopping)."""


@dataclass(eq=False)
class Job:
    """One request for the model thread. `on_piece` and `on_done` are called there."""

    request: GenerationRequest
    on_piece: Callable[[str], None] | None = None
    on_done: Callable[[GenerationOutput | None, BaseException | None], None] = (
        lambda output, error: None
    )
    cancelled: bool = False
    stopping: bool = False
    pending: Any = None
    queued_at: float = field(default_factory=time.perf_counter)

    def cancel(self) -> None:
        """The client went away: drop it at the next step."""
        self.cancelled = True

    def stop(self) -> None:
        """Its answer is complete (a stop string): end it at the next step, keeping it."""
        self.stopping = True


class Scheduler:
    """Runs jobs on one backend, in a thread of its own."""

    def __init__(
        self,
        backend: Any,
        max_batch: int = 8,
        max_queue: int = 64,
        metrics: Metrics | None = None,
        rows: int = PREFILL_ROWS,
        budget_s: float = PREPARE_BUDGET_S,
        gather_s: float = GATHER_S,
    ) -> None:
        self.backend = backend
        self.batched = isinstance(backend, Batched) and max_batch > 1
        self.max_batch = max_batch if self.batched else 1
        self.max_queue = max_queue
        self.metrics = metrics or Metrics()
        self.rows = rows
        self.budget_s = budget_s
        self.gather_s = gather_s
        self.lock = FairLock()
        """Held while the backend works; others that touch its kept state take it too."""
        self._changed = threading.Condition()
        self._queue: collections.deque[Job] = collections.deque()
        self._preparing: list[Job] = []
        self._decoding: list[Job] = []
        self._coming = 0
        self._stopping = False
        self._thread: threading.Thread | None = None
        self.metrics.gauges["chronicon_queue_depth"] = lambda: float(len(self._queue))
        self.metrics.gauges["chronicon_running_requests"] = lambda: float(self.running)

    @property
    def running(self) -> int:
        """Requests being prepared or decoded."""
        return len(self._preparing) + len(self._decoding)

    @property
    def depth(self) -> int:
        """Requests waiting."""
        return len(self._queue)

    def start(self) -> None:
        """Start the model thread."""
        threading.Thread(target=self.run, name="chronicon-model", daemon=True).start()

    def run(self) -> None:
        """Be the model thread: run jobs until stopped. `start` calls it in a thread of its
        own; the thread that loaded the model calls it itself, so that the model's torch
        threads are one thread's (see `machine.one_thread_for_torch`)."""
        self._thread = threading.current_thread()
        self._run()

    def submit(self, job: Job) -> None:
        """Queue a job; QueueFull when the queue is full: `max_queue` jobs wait beyond
        those the batch has room for at its next step."""
        with self._changed:
            if self._stopping:
                raise Cancelled("the server is stopping")
            waiting = len(self._queue) - max(0, self.max_batch - self.running)
            if waiting >= self.max_queue:
                raise QueueFull(f"{len(self._queue)} requests are waiting")
            self._queue.append(job)
            self._changed.notify()

    @contextlib.contextmanager
    def announced(self) -> Iterator[None]:
        """Around a request's preparation and its `submit`: while it is being prepared, an
        idle model thread waits for it (up to `gather_s`) before it starts the others."""
        with self._changed:
            self._coming += 1
        try:
            yield
        finally:
            with self._changed:
                self._coming -= 1
                self._changed.notify()

    def wake(self) -> None:
        """Look at the jobs again (one was cancelled)."""
        with self._changed:
            self._changed.notify()

    def stop(self, timeout: float = 5.0) -> None:
        """Take no more jobs; let the running ones finish for up to `timeout` seconds, then
        cancel what is left."""
        with self._changed:
            self._stopping = True
            waiting = list(self._queue)
            self._queue.clear()
            self._changed.notify()
        for job in waiting:
            self._end(job, None, Cancelled("the server is stopping"))
        deadline = time.monotonic() + timeout
        while self.running and time.monotonic() < deadline:
            time.sleep(0.02)
        for job in [*self._preparing, *self._decoding]:
            job.cancel()
        self.wake()
        if self._thread is not None:
            self._thread.join(timeout=timeout)

    def _run(self) -> None:
        worked = False
        while True:
            with self._changed:
                if worked and not self._queue and not self.running:
                    # Idle: hand the heap's freed pages back (the answers' caches and
                    # activations), so that a busy hour does not leave the process large.
                    release_freed_memory()
                    worked = False
                while not self._queue and not self.running and not self._stopping:
                    self._changed.wait()
                worked = True
                if self._stopping and not self.running:
                    return
                if not self.running:
                    self._gather()
                admitted: list[Job] = []
                while self._queue and self.running + len(admitted) < self.max_batch:
                    admitted.append(self._queue.popleft())
            try:
                if self.batched:
                    self._tick(admitted)
                else:
                    for job in admitted:
                        self._alone(job)
            except Exception as error:  # never let the model thread die with jobs waiting
                self._fail_all([*admitted, *self._preparing, *self._decoding], error)

    def _gather(self) -> None:
        """Wait (up to `gather_s`, the condition held) for the requests being prepared to
        be queued, while the batch has room for them."""
        deadline = time.monotonic() + self.gather_s
        while self._coming and not self._stopping and len(self._queue) < self.max_batch:
            left = deadline - time.monotonic()
            if left <= 0:
                return
            self._changed.wait(left)

    def _fail_all(self, jobs: list[Job], error: Exception) -> None:
        """End every job the failed step touched with its error, and go on with the next."""
        self._preparing, self._decoding = [], []
        for job in {id(job): job for job in jobs}.values():
            if job.pending is not None:
                with contextlib.suppress(Exception):
                    job.pending.cancel()
            with contextlib.suppress(Exception):
                self._end(job, None, error)

    @staticmethod
    def _end(job: Job, output: GenerationOutput | None, error: BaseException | None) -> None:
        """Hand a job its answer; its sequence (the KV cache) is let go at once, not when
        the garbage collector next finds the job's cycles."""
        job.pending = None
        job.on_done(output, error)

    def _cancelled(self) -> Cancelled:
        return Cancelled("the server is stopping" if self._stopping else "cancelled")

    def _tick(self, admitted: list[Job]) -> None:
        """Admit jobs, do slices of the waiting ones' preparation (see `_prepare`), then
        one decode step."""
        for job in admitted:
            if job.cancelled:
                self._end(job, None, self._cancelled())
                continue
            with self.lock:
                job.pending = self.backend.submit(job.request, job.on_piece, self.rows)
            self._preparing.append(job)
        self._prepare()
        self._decode_step()

    def _prepare(self) -> None:
        """Slices of the waiting requests' preparation, first come first: at least one,
        and another while the last one's time, added to what ran, fits the budget. A
        request whose next slice is prompt rows waits for the decode step, which runs
        them (see `_joining`)."""
        started = time.perf_counter()
        while True:
            job = next((job for job in self._preparing if self._sliced(job)), None)
            if job is None:
                return
            before = time.perf_counter()
            self._prepare_slice(job)
            now = time.perf_counter()
            if now - started + (now - before) > self.budget_s:
                return

    def _sliced(self, job: Job) -> bool:
        """Whether a preparing job's next slice runs on its own (not in a decode step)."""
        return job.cancelled or not self.backend.waiting_rows(job.pending)

    def _joining(self) -> list[Job]:
        """The preparing jobs whose prompt rows the next decode step runs: first come
        first, as many as fit `rows` rows (at least one), or all of them when no request
        is decoding."""
        joining: list[Job] = []
        total = 0
        limit = self.rows if self._decoding else math.inf  # no stream to keep flowing
        for job in self._preparing:
            if self._sliced(job):
                continue
            count = self.backend.waiting_rows(job.pending)
            if joining and total + count > limit:
                break
            joining.append(job)
            total += count
        return joining

    def _prepare_slice(self, job: Job) -> None:
        if job.cancelled:
            self._preparing.remove(job)
            if job.pending is not None:
                job.pending.cancel()
            self._end(job, None, self._cancelled())
            return
        try:
            with self.lock:
                ready = self.backend.work(job.pending)
        except Exception as error:  # the request failed; the others go on
            self._preparing.remove(job)
            self._end(job, None, error)
            return
        if ready:
            self._preparing.remove(job)
            self._decoding.append(job)

    def _decode_step(self) -> None:
        for job in self._decoding:
            if (job.cancelled or job.stopping) and job.pending is not None:
                job.pending.cancel()
        joining = self._joining()
        if not self._decoding and not joining:
            return
        # A step of running requests alone touches only their own sequences, not the kept
        # state the lock guards: requests being prepared read that state meanwhile.
        guard = self.lock if joining else contextlib.nullcontext()
        try:
            with guard:
                going = self.backend.decode(
                    [job.pending for job in self._decoding], [job.pending for job in joining]
                )
        except Exception as error:  # a step failed: every request in it fails
            failed, self._decoding = [*self._decoding, *joining], []
            self._preparing = [job for job in self._preparing if job not in joining]
            for job in failed:
                self._end(job, None, error)
            return
        if self._decoding:
            self.metrics.batch(len(self._decoding))
        still = {id(pending) for pending in going}
        ended = [job for job in self._decoding if id(job.pending) not in still]
        joined = [job for job in joining if id(job.pending) in still]
        self._decoding = [job for job in self._decoding if id(job.pending) in still]
        self._decoding += joined
        self._preparing = [job for job in self._preparing if job not in joined]
        for job in ended:
            if job.cancelled:
                self._end(job, None, self._cancelled())
                continue
            try:
                with self.lock:
                    output = self.backend.finish(job.pending)
            except Exception as error:  # this answer is lost; the others go on
                self._end(job, None, error)
            else:
                self._end(job, output, None)

    def _alone(self, job: Job) -> None:
        """A backend without batching: the whole request, then the next."""
        if job.cancelled:
            self._end(job, None, self._cancelled())
            return

        def piece(text: str) -> None:
            if job.cancelled:
                raise self._cancelled()
            if job.on_piece is not None:
                job.on_piece(text)

        self._decoding.append(job)
        try:
            with self.lock:
                output = self.backend.generate(job.request, piece)
        except Exception as error:
            self._end(job, None, error)
        else:
            self.metrics.batch(1)
            self._end(job, output, None)
        finally:
            self._decoding.remove(job)
