"""The server's model thread: a failure inside a step ends the requests it touched with
their error, and the thread goes on with the next ones."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

from chronicon_mlx.backends import GenerationOutput, GenerationRequest
from chronicon_mlx.serve.scheduler import Job, Scheduler


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

    def decode(self, pending: Sequence[Any]) -> list[Any]:
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
