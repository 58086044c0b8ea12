"""A request on its way through the cpu backend: prepared in slices (its frames encoded a
layer at a time, its prompt prefilled a chunk at a time), then decoded in steps with
others. A prompt chunk waits in the request until it runs, alone in its next slice or in
a decode step together with the running requests' rows."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Generator
from typing import TYPE_CHECKING, Any

from .base import GenerationRequest, TokenCallback
from .reuse import Plan

if TYPE_CHECKING:
    from ..engine.generate import Stream
    from ..engine.text import Chunk

Preparing = Generator["Chunk | None", Any, tuple[Plan, "Stream", dict[str, float]]]
"""A request's preparation: yields after each slice (a prompt chunk for the driver to
run, or None for work it did itself); returns its plan, its stream and its stages."""


@dataclasses.dataclass(eq=False)
class Pending:
    """One request: its preparation, then its stream."""

    request: GenerationRequest
    preparing: Preparing
    plan: Plan | None = None
    stream: Stream | None = None
    stages: dict[str, float] = dataclasses.field(default_factory=dict)
    started: float = dataclasses.field(default_factory=time.perf_counter)
    decoding_at: float = 0.0
    chunk: Chunk | None = None
    """The prompt chunk waiting to run, if its preparation is at one."""
    failed: Exception | None = None
    """Why its preparation failed, when a decode step ran its chunk."""

    @property
    def ready(self) -> bool:
        """Whether its preparation is over (it decodes from here)."""
        return self.stream is not None

    @property
    def done(self) -> bool:
        """Whether its answer is complete."""
        return self.stream is not None and self.stream.done

    @property
    def waiting_rows(self) -> int:
        """The rows of the prompt chunk waiting to run (0 for none)."""
        return 0 if self.chunk is None else self.chunk.count

    def work(self) -> bool:
        """Its next slice (the chunk waiting, run alone); True once it is ready."""
        if self.failed is not None:
            raise self.failed
        if self.stream is not None:
            return True
        return self.resume(None if self.chunk is None else self.chunk.run())

    def resume(self, value: Any) -> bool:
        """Go on with its preparation, handing it `value` (the last hidden state of the
        chunk that ran, or None), up to its next slice; True once it is ready."""
        self.chunk = None
        try:
            self.chunk = self.preparing.send(value)
        except StopIteration as done:
            self.plan, self.stream, self.stages = done.value
            self.decoding_at = time.perf_counter()
            return True
        return False

    def cancel(self) -> None:
        """Stop it: its preparation is dropped, its stream ends at the next step."""
        self.preparing.close()
        self.chunk = None
        if self.stream is not None:
            self.stream.cancelled = True


def token_pieces(
    tokenizer: Any, on_token: TokenCallback | None, stop: set[int]
) -> Callable[[int], None] | None:
    """Each token's new text for `on_token`: the answer so far decoded as a whole, so that a
    character split over tokens comes out whole (held back until complete); a stop token
    adds nothing."""
    if on_token is None:
        return None
    tokens: list[int] = []
    sent = 0

    def piece(token: int) -> None:
        nonlocal sent
        if token in stop:
            return
        tokens.append(token)
        text = tokenizer.decode(tokens)
        if text.endswith("\ufffd") or len(text) <= sent:
            return
        on_token(text[sent:])
        sent = len(text)

    return piece
