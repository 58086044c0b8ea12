"""A scripted backend: fixed answers through the real sessions, tasks and outputs.

It answers each request with the next text of its script (or the same text every time),
streams the text word by word, records every request, and reports fixed numbers, so tests
of the logic around a model (sessions, highlights ranking, records, reports, the server)
can check exact outputs without running one. Tests that claim to test generation use a
real checkpoint instead::

    from chronicon_mlx import ModelSession
    from chronicon_mlx.testing import ScriptedBackend

    backend = ScriptedBackend('{"description": "A goal.", "significance": 9}')
    session = ModelSession.from_backend(backend, "tiny-random")
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from ..backends.base import BackendInfo, GenerationOutput, GenerationRequest, TokenCallback

__all__ = ["NoteRecorder", "ScriptedBackend", "ScriptedNumbers"]


@dataclass(frozen=True)
class ScriptedNumbers:
    """The numbers every scripted answer reports (a request with a shared prefix reports
    `cached_tokens` of it, and as reused once a request before it had the same prefix)."""

    token_ids: tuple[int, ...] = (5, 6, 7)
    prompt_tokens: int = 120
    prompt_tps: float = 240.5
    generation_tps: float = 30.25
    peak_memory_gb: float = 1.5
    cached_tokens: int = 40
    finish_reason: str = "stop"
    stages: dict[str, float] = field(
        default_factory=lambda: {"preprocess": 0.0, "prefill": 0.0, "generate": 0.0}
    )


class ScriptedBackend:
    """A backend that answers from a script (see the module's text).

    `replies`: one text, given to every request, or a list taken in order (a request past
    its end is an AssertionError: the test asked more than it scripted).
    """

    def __init__(
        self,
        replies: str | Sequence[str],
        *,
        json_schema: bool = True,
        info: BackendInfo | None = None,
        numbers: ScriptedNumbers | None = None,
    ) -> None:
        self.info = info or BackendInfo("scripted", "cpu", "float32", numerics={"library": "1.0"})
        self.supports_json_schema = json_schema
        self.numbers = numbers or ScriptedNumbers()
        self._repeat = replies if isinstance(replies, str) else None
        self.replies = [] if isinstance(replies, str) else list(replies)
        self.requests: list[GenerationRequest] = []
        self.loads = 0

    def load(self, model: object, quantize: str | None = None) -> list[str]:
        """Nothing to load; counted, so a test can check that a session loads once."""
        self.loads += 1
        return []

    def prompt_ids(self, request: GenerationRequest) -> list[int]:
        """No tokenizer: no ids."""
        return []

    def generate(
        self, request: GenerationRequest, on_token: TokenCallback | None = None
    ) -> GenerationOutput:
        """The next scripted text, streamed word by word to `on_token`."""
        seen = {earlier.prefix for earlier in self.requests if earlier.prefix}
        self.requests.append(request)
        if self._repeat is not None:
            text = self._repeat
        else:
            if not self.replies:
                raise AssertionError(
                    f"the script has no answer left for request {len(self.requests)}"
                )
            text = self.replies.pop(0)
        if on_token is not None:
            for number, word in enumerate(text.split(" ")):
                on_token(word if number == 0 else f" {word}")
        numbers = self.numbers
        return GenerationOutput(
            text=text,
            token_ids=list(numbers.token_ids),
            prompt_tokens=numbers.prompt_tokens,
            generated_tokens=len(numbers.token_ids),
            prompt_tps=numbers.prompt_tps,
            generation_tps=numbers.generation_tps,
            peak_memory_gb=numbers.peak_memory_gb,
            finish_reason=numbers.finish_reason,
            stages=dict(numbers.stages),
            cached_tokens=numbers.cached_tokens if request.prefix else 0,
            constrained=request.json_schema is not None,
            reused_tokens=numbers.cached_tokens if request.prefix in seen else 0,
        )


class NoteRecorder:
    """A reporter that keeps every note (and ignores the stages)."""

    def __init__(self) -> None:
        self.notes: list[str] = []

    def stage_started(self, stage: str, total: int | None = None) -> None:
        """Ignore."""

    def stage_advanced(self, stage: str, advance: int = 1, text: str | None = None) -> None:
        """Ignore."""

    def stage_finished(self, stage: str, seconds: float) -> None:
        """Ignore."""

    def note(self, message: str) -> None:
        """Keep the note."""
        self.notes.append(message)
