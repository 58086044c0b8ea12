"""Decoding on the engine: a stream per sequence (its settings, its tokens, its choice of
the next one: greedy, sampled, or constrained to JSON), and steps that advance every
unfinished stream together, each weight read once per step for all of them."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from .cache import SequenceCache
from .model import Engine
from .text import Chunk

# generation_config.json settings that change a greedy choice: the engine leaves such a
# checkpoint to transformers.
GREEDY_CHANGERS: dict[str, tuple[Any, ...]] = {
    "repetition_penalty": (None, 1.0),
    "no_repeat_ngram_size": (None, 0),
    "encoder_no_repeat_ngram_size": (None, 0),
    "bad_words_ids": (None,),
    "suppress_tokens": (None,),
    "begin_suppress_tokens": (None,),
    "forced_bos_token_id": (None,),
    "forced_eos_token_id": (None,),
    "sequence_bias": (None,),
    "min_length": (None, 0),
    "min_new_tokens": (None, 0),
    "exponential_decay_length_penalty": (None,),
    "renormalize_logits": (None, False),
}


def plain_greedy(settings: dict[str, Any]) -> bool:
    """Whether a checkpoint's generation settings leave greedy choices to the logits alone."""
    return all(settings.get(name) in allowed for name, allowed in GREEDY_CHANGERS.items())


class Constraint(Protocol):
    """What a stream needs from a constraint: restrict the next logits, then learn the
    token that was chosen."""

    def restrict(self, logits: Any) -> None:
        """Set the logits of forbidden tokens to -inf, in place."""

    def consume(self, token: int) -> None:
        """Advance past the chosen token."""


class Stream:
    """One sequence being decoded."""

    def __init__(
        self,
        sequence: SequenceCache,
        max_tokens: int,
        stop: set[int],
        constraint: Constraint | None = None,
        temperature: float = 0.0,
        seed: int | None = None,
        on_token: Callable[[int], None] | None = None,
    ) -> None:
        import torch

        self.sequence = sequence
        self.max_tokens = max_tokens
        self.stop = stop
        self.constraint = constraint
        self.temperature = temperature
        self.on_token = on_token
        self.tokens: list[int] = []
        self.first_at = 0.0
        self.cancelled = False
        self._generator = torch.Generator()
        if seed is not None:
            self._generator.manual_seed(seed)

    @property
    def done(self) -> bool:
        """Whether the stream ended: a stop token, its token budget, or cancelled."""
        if self.cancelled or len(self.tokens) >= self.max_tokens:
            return True
        return bool(self.tokens) and self.tokens[-1] in self.stop

    @property
    def stopped(self) -> bool:
        """Whether it ended on a stop token."""
        return bool(self.tokens) and self.tokens[-1] in self.stop

    def take(self, logits: Any) -> int:
        """Choose the next token from `logits` [vocab] and add it."""
        import torch

        if self.constraint is not None:
            self.constraint.restrict(logits)
        if self.temperature > 0:
            probabilities = torch.softmax(logits.float() / self.temperature, dim=-1)
            token = int(torch.multinomial(probabilities, 1, generator=self._generator))
        else:
            token = int(logits.argmax())
        if not self.first_at:
            self.first_at = time.perf_counter()
        self.tokens.append(token)
        if self.constraint is not None and token not in self.stop:
            self.constraint.consume(token)
        if self.on_token is not None:
            self.on_token(token)
        return token


def step(engine: Engine, streams: Sequence[Stream]) -> list[Stream]:
    """Advance every unfinished stream by one token, together; return those still going."""
    return advance(engine, streams)[0]


def advance(
    engine: Engine, streams: Sequence[Stream], chunks: Sequence[Chunk] = ()
) -> tuple[list[Stream], list[Any]]:
    """`step`, with prompt chunks of sequences still being prefilled run in the same
    forward; returns the streams still going and each chunk's last hidden state."""
    active = [stream for stream in streams if not stream.done]
    if not active and not chunks:
        return [], []
    logits, lasts = engine.step(
        [s.sequence for s in active], [s.tokens[-1] for s in active], chunks
    )
    for stream, row in zip(active, logits if active else (), strict=True):
        stream.take(row)
    return [stream for stream in active if not stream.done], lasts


def run(engine: Engine, streams: Sequence[Stream]) -> None:
    """Decode every stream to its end (each has taken its first token from its prefill)."""
    active = list(streams)
    while active:
        active = step(engine, active)
