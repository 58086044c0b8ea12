"""One window's question and answer: the prompt, the JSON-constrained request, strict
parsing, and one retry with a firmer instruction."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from ..analysis.session import LoadedModel
from ..backends import GenerationOutput, GenerationRequest
from ..media.decode import Frame
from ..model.prompt import Speech, build_prompt, shared_prefix
from . import scoring
from .params import HighlightsConfig, WindowSpan
from .result import WindowResult

FREE_TEXT_MAX_TOKENS = 128


def token_budget(config: HighlightsConfig, constrained: bool) -> int:
    """Tokens per answer: the configured budget, else enough for a complete JSON answer."""
    if config.max_tokens is not None:
        return config.max_tokens
    return scoring.CONSTRAINED_MAX_TOKENS if constrained else FREE_TEXT_MAX_TOKENS


@dataclass(frozen=True)
class Asking:
    """What every window's question shares within one run."""

    loaded: LoadedModel
    system: str
    question: str | None
    config: HighlightsConfig
    constrained: bool
    max_tokens: int
    reuse_prefix: bool
    speech: Callable[[WindowSpan], Speech] = lambda span: ()
    """What was said during a window, as its prompt's speech lines."""


def ask(asking: Asking, span: WindowSpan, frames: list[Frame]) -> WindowResult:
    """One window's answer: parsed strictly, retried once with a firmer instruction."""
    config = asking.config
    start = time.perf_counter()
    outputs: list[GenerationOutput] = []
    score = None
    said = asking.speech(span)
    for firmer in (False, True):
        text = build_prompt(
            asking.loaded.chat_template,
            scoring.user_prompt(asking.question, firmer=firmer),
            [f.timestamp_s - span.start_s for f in frames],
            span.end_s - span.start_s,
            asking.system,
            said,
        )
        request = GenerationRequest(
            frames=[f.image for f in frames],
            prompt=text,
            max_tokens=asking.max_tokens,
            temperature=config.temperature,
            seed=config.seed,
            prefix=shared_prefix(text) if asking.reuse_prefix else "",
            json_schema=scoring.SCHEMA if asking.constrained else None,
        )
        outputs.append(asking.loaded.backend.generate(request))
        score = scoring.parse(outputs[-1].text)
        if score is not None:
            break
    last = outputs[-1]
    return WindowResult(
        number=span.number,
        start_s=span.start_s,
        end_s=span.end_s,
        description=score.description if score else None,
        significance=score.significance if score else None,
        raw=last.text,
        attempts=len(outputs),
        frame_indices=[f.index for f in frames],
        frame_times=[f.timestamp_s for f in frames],
        thumbnail=None,
        generate_s=time.perf_counter() - start,
        prompt_tokens=sum(o.prompt_tokens for o in outputs),
        cached_tokens=sum(o.cached_tokens for o in outputs),
        generated_tokens=sum(o.generated_tokens for o in outputs),
        constrained=last.constrained,
        encoded_frames=sum(o.encoded_frames for o in outputs),
    )
