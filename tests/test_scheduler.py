"""The server's model thread: a failure inside a step ends the requests it touched with
their error, and the thread goes on with the next ones."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from typing import Any

import pytest

from chronicon_mlx.backends import GenerationOutput, GenerationRequest
from chronicon_mlx.serve.fairlock import FairLock
from chronicon_mlx.serve.scheduler import Job, QueueFull, Scheduler


class Counting:
    """A batched backend that counts tokens; a prompt of "boom" fails in `submit`, and a
    prompt of "late" fails in `finish`."""

    def __init__(self) -> None:
        self.left: dict[int, int] = {}

    def prompt_ids(self, request: GenerationRequest) -> list[int]:
        return []

    def generate(self, request: GenerationRequest, on_token: Any = None) -> GenerationOutput:
        raise AssertionError("a batched backend is driven step by step")

    def submit(self, request: GenerationRequest, on_token: Any = None, rows: Any = None) -> Any:
        if request.prompt == "boom":
            raise RuntimeError("the backend refused the request")
        pending = {"request": request, "left": request.max_tokens}
        return pending

    def work(self, pending: Any) -> bool:
        return True

    def waiting_rows(self, pending: Any) -> int:
        return 0

    def decode(self, pending: Sequence[Any], joining: Sequence[Any] = ()) -> list[Any]:
        assert not joining
        for item in pending:
            item["left"] -= 1
        return [item for item in pending if item["left"] > 0]

    def finish(self, pending: Any) -> GenerationOutput:
        if pending["request"].prompt == "late":
            raise RuntimeError("the answer could not be read back")
        return GenerationOutput("ok", [1, 2, 3], 1, 3, 0.0, 0.0, 0.0, "length")


def _run(scheduler: Scheduler, prompt: str) -> tuple[GenerationOutput | None, BaseException | None]:
    done = threading.Event()
    answer: list[Any] = []

    def finished(output: GenerationOutput | None, error: BaseException | None) -> None:
        answer.extend([output, error])
        done.set()

    scheduler.submit(Job(GenerationRequest([], prompt, max_tokens=3), on_done=finished))
    assert done.wait(10), f"{prompt!r} never ended: the model thread stopped"
    return answer[0], answer[1]


def test_a_failing_step_ends_its_request_and_the_thread_goes_on() -> None:
    scheduler = Scheduler(Counting(), max_batch=4)
    scheduler.start()
    try:
        for prompt in ("boom", "late"):
            output, error = _run(scheduler, prompt)
            assert output is None and isinstance(error, RuntimeError)
            output, error = _run(scheduler, "fine")
            assert error is None and output is not None and output.text == "ok"
        assert scheduler.running == 0 and scheduler.depth == 0
    finally:
        scheduler.stop()


def test_the_thread_that_loaded_the_model_runs_it() -> None:
    """`run` makes the calling thread the model thread: the model's steps run where it was
    loaded, so torch keeps one pool of threads for them."""
    scheduler = Scheduler(Counting(), max_batch=4)
    loader = threading.Thread(target=scheduler.run, name="loader")
    loader.start()
    seen: list[str] = []
    done = threading.Event()

    def finished(output: GenerationOutput | None, error: BaseException | None) -> None:
        seen.append(threading.current_thread().name)
        done.set()

    scheduler.submit(Job(GenerationRequest([], "hello", max_tokens=2), on_done=finished))
    assert done.wait(10)
    scheduler.stop(timeout=5)
    loader.join(timeout=5)
    assert seen == ["loader"] and not loader.is_alive()


def test_a_helper_thread_runs_torch_on_one_thread_and_leaves_the_model_threads_alone() -> None:
    import torch

    from chronicon_mlx.machine import one_thread_for_torch

    before = torch.get_num_threads()
    torch.set_num_threads(2)
    square = torch.ones(256, 256)
    (square @ square).sum()  # this thread has run torch: its thread count is its own
    inside: list[int] = []

    def helper() -> None:
        one_thread_for_torch()
        torch.ones(4).sum()
        inside.append(torch.get_num_threads())

    thread = threading.Thread(target=helper)
    thread.start()
    thread.join(timeout=10)
    assert inside == [1] and torch.get_num_threads() == 2
    torch.set_num_threads(before)  # the count later threads start with, as it was


class Sliced(Counting):
    """A batched backend whose requests each take three slices of preparation; it logs
    each slice ("w") and each decode step ("d")."""

    def __init__(self) -> None:
        super().__init__()
        self.log: list[str] = []

    def submit(self, request: GenerationRequest, on_token: Any = None, rows: Any = None) -> Any:
        pending = super().submit(request, on_token, rows)
        pending["slices"] = 3
        return pending

    def work(self, pending: Any) -> bool:
        self.log.append("w")
        pending["slices"] -= 1
        return bool(pending["slices"] == 0)

    def decode(self, pending: Sequence[Any], joining: Sequence[Any] = ()) -> list[Any]:
        self.log.append("d")
        return super().decode(pending, joining)


def _sliced(budget_s: float) -> str:
    """The log of three requests queued together, prepared under `budget_s`."""
    backend = Sliced()
    _three_requests(Scheduler(backend, max_batch=4, budget_s=budget_s))
    return "".join(backend.log)


def _three_requests(scheduler: Scheduler) -> None:
    """Queue three requests together, then start the model thread and wait for them."""
    ended = threading.Semaphore(0)
    for _ in range(3):
        request = GenerationRequest([], "hello", max_tokens=3)
        scheduler.submit(Job(request, on_done=lambda output, error: ended.release()))
    scheduler.start()
    try:
        assert all(ended.acquire(timeout=10) for _ in range(3))
    finally:
        scheduler.stop()


def test_requests_that_arrive_together_are_prepared_within_the_budget() -> None:
    """Cheap slices of several new requests run between two decode steps as long as they
    fit the budget; with none, one slice runs between steps, so running streams flow."""
    assert _sliced(budget_s=10.0) == "wwwwwwwww" + "ddd"
    assert _sliced(budget_s=0.0) == "wwwd" + "wd" * 6 + "dd"


class Prompted(Counting):
    """A batched backend whose requests each take a slice of other work, then prompt
    chunks (of 40 and 40 rows; of 4 for a prompt of "short") that only a decode step runs;
    it logs each slice ("w") and each step (how many requests it decodes, then the rows it
    runs, "!" when it holds the lock)."""

    def __init__(self) -> None:
        super().__init__()
        self.log: list[str] = []
        self.lock = FairLock()

    def submit(self, request: GenerationRequest, on_token: Any = None, rows: Any = None) -> Any:
        pending = super().submit(request, on_token, rows)
        pending.update(slices=1, chunks=[4] if request.prompt == "short" else [40, 40])
        return pending

    def work(self, pending: Any) -> bool:
        assert pending["slices"], "a prompt chunk ran outside a decode step"
        self.log.append("w")
        pending["slices"] -= 1
        return False

    def waiting_rows(self, pending: Any) -> int:
        return 0 if pending["slices"] or not pending["chunks"] else int(pending["chunks"][0])

    def decode(self, pending: Sequence[Any], joining: Sequence[Any] = ()) -> list[Any]:
        rows = "+".join(str(j["chunks"][0]) for j in joining)
        self.log.append(f"d{len(pending)}:{rows}" + ("!" if self.lock.locked else ""))
        going = super().decode(pending)
        for item in joining:
            item["chunks"].pop(0)
        return going + [item for item in joining if not item["chunks"]]


def _prompted(**settings: Any) -> tuple[Prompted, Scheduler]:
    backend = Prompted()
    scheduler = Scheduler(backend, max_batch=4, rows=64, budget_s=10.0, **settings)
    backend.lock = scheduler.lock
    return backend, scheduler


def _job(prompt: str, ended: threading.Semaphore) -> Job:
    request = GenerationRequest([], prompt, max_tokens=3)
    return Job(request, on_done=lambda output, error: ended.release())


def test_prompt_rows_run_within_decode_steps_up_to_the_rows_per_step() -> None:
    """Requests that arrive together are prefilled together: with none decoding, all of
    their waiting rows in one step; then, in the decode steps of those running, first come
    first, as many chunks as fit the rows per step (at least one). Each request decodes
    from the step after its last chunk."""
    backend, scheduler = _prompted()
    ended = threading.Semaphore(0)
    for prompt in ("short", "long", "long", "long"):
        scheduler.submit(_job(prompt, ended))
    scheduler.start()
    try:
        assert all(ended.acquire(timeout=10) for _ in range(4))
    finally:
        scheduler.stop()
    # a step with prompt rows holds the backend's lock ("!"); one of running requests alone
    # does not, so that requests being prepared can read the backend's kept state meanwhile
    steps = ["d0:4+40+40+40!", "d1:40!", "d2:40!", "d3:40!", "d3:", "d2:", "d1:"]
    assert backend.log == ["w"] * 4 + steps


def test_an_idle_model_thread_waits_for_requests_being_prepared_to_start_them_together() -> None:
    """A request queued while another is being prepared (announced) waits for it, and both
    prefill in one step; a request that arrives alone does not wait."""
    backend, scheduler = _prompted(gather_s=10.0)
    ended = threading.Semaphore(0)
    scheduler.start()
    try:
        with scheduler.announced():
            with scheduler.announced():
                scheduler.submit(_job("short", ended))
            time.sleep(0.3)
            assert backend.log == []
            scheduler.submit(_job("long", ended))
        assert all(ended.acquire(timeout=10) for _ in range(2))
        assert backend.log[:3] == ["w", "w", "d0:4+40!"]
        with scheduler.announced():
            scheduler.submit(_job("short", ended))
        assert ended.acquire(timeout=5)
    finally:
        scheduler.stop()


class Alone:
    """A backend that answers one request at a time."""

    def prompt_ids(self, request: GenerationRequest) -> list[int]:
        return []

    def generate(self, request: GenerationRequest, on_token: Any = None) -> GenerationOutput:
        return GenerationOutput("ok", [1], 1, 1, 0.0, 0.0, 0.0, "length")


def test_a_model_thread_that_runs_one_request_at_a_time_does_not_wait_for_others() -> None:
    scheduler = Scheduler(Alone(), max_batch=4, gather_s=10.0)
    ended = threading.Semaphore(0)
    scheduler.start()
    try:
        with scheduler.announced():
            scheduler.submit(_job("short", ended))
            assert ended.acquire(timeout=5)
    finally:
        scheduler.stop()


def test_the_wait_for_requests_being_prepared_is_bounded() -> None:
    backend, scheduler = _prompted(gather_s=0.05)
    ended = threading.Semaphore(0)
    scheduler.start()
    try:
        with scheduler.announced():  # a preparation that takes long
            scheduler.submit(_job("short", ended))
            assert ended.acquire(timeout=5)
    finally:
        scheduler.stop()
    assert backend.log == ["w", "d0:4!", "d1:", "d1:", "d1:"]


def _until(condition: Any, seconds: float = 5.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.001)


def test_a_thread_waiting_for_the_lock_gets_it_before_its_holder_takes_it_again() -> None:
    """The model thread releases the backend's lock after a step and takes it again for
    the next: a request's preparation waiting for it goes first."""
    lock = FairLock()
    order: list[str] = []

    def waiter() -> None:
        with lock:
            order.append("waiter")

    lock.acquire()
    thread = threading.Thread(target=waiter)
    thread.start()
    _until(lambda: lock.waiting == 1)
    lock.release()
    with lock:
        order.append("holder")
    thread.join(timeout=5)
    assert order == ["waiter", "holder"]


def test_the_lock_is_reentrant_and_only_its_holder_releases_it() -> None:
    lock = FairLock()
    taken = threading.Event()
    with lock, lock:
        thread = threading.Thread(target=lambda: (lock.acquire(), taken.set(), lock.release()))
        thread.start()
        _until(lambda: lock.waiting == 1)
        assert not taken.is_set()
    thread.join(timeout=5)
    assert taken.is_set()
    with pytest.raises(RuntimeError, match="does not hold"):
        lock.release()


def test_the_queue_holds_requests_beyond_the_places_free_in_the_batch() -> None:
    """Requests that the next step takes in do not fill the queue: with 4 places free and
    a queue of 1, five requests that arrive before the step are taken and a sixth is not."""
    scheduler = Scheduler(Counting(), max_batch=4, max_queue=1)
    jobs = [Job(GenerationRequest([], "hello", max_tokens=1)) for _ in range(6)]
    for job in jobs[:5]:
        scheduler.submit(job)
    with pytest.raises(QueueFull, match="5 requests are waiting"):
        scheduler.submit(jobs[5])
    assert scheduler.depth == 5
    scheduler.stop(timeout=1)
