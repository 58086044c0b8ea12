"""What was said during a window, as the speech lines of its prompt (times from the
window's start, like its frames'), fitted into the room its prompt leaves."""

from __future__ import annotations

from ..audio.hear import Hearing
from ..model.context import prompt_tokens, speech_words
from ..model.prompt import Speech, speech_line
from ..model.resolver import ModelRef
from .params import WindowSpan


class WindowSpeech:
    """Each window's speech lines from one run's transcript; counts what did not fit."""

    def __init__(self, heard: Hearing | None, model: ModelRef, room: int) -> None:
        self.segments = heard.segments if heard is not None else []
        self.model = model
        self.budget = max(0, room) // 2
        self.left_out = 0

    def __call__(self, span: WindowSpan) -> Speech:
        """The lines said during `span` that fit in half of the prompt's room."""
        kept: list[tuple[float, float, str]] = []
        used = 0
        for segment in self.segments:
            if segment.end_s <= span.start_s or segment.start_s >= span.end_s:
                continue
            words = speech_words(self.model, segment.text)
            if not words:
                continue
            start = max(segment.start_s, span.start_s) - span.start_s
            end = min(segment.end_s, span.end_s) - span.start_s
            cost = prompt_tokens(self.model, speech_line(start, end, words))
            if used + cost > self.budget:
                self.left_out += 1
                continue
            kept.append((start, end, words))
            used += cost
        return kept
