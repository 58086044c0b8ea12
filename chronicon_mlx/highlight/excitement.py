"""Loudness as a highlight cue: each window's loudness against the video's own median
second (crowds and commentators get loud at goals)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from ..audio.hear import Hearing
from ..audio.loudness import excitement, window_loudness
from .result import Highlight, WindowResult


def with_excitement(heard: Hearing, windows: Sequence[WindowResult]) -> list[WindowResult]:
    """The windows with their loudness and excitement measured in `heard`."""
    seconds, origin = heard.loudness, heard.start_s
    measured = []
    for window in windows:
        start, end = window.start_s - origin, window.end_s - origin
        level = window_loudness(seconds, start, end)
        cue = excitement(seconds, start, end)
        measured.append(replace(window, loudness_lufs=level, excitement=cue))
    return measured


def add_speech(heard: Hearing, highlights: Sequence[Highlight]) -> None:
    """Give each highlight the words said during it."""
    for highlight in highlights:
        said = [
            s.text
            for s in heard.segments
            if s.end_s > highlight.start_s and s.start_s < highlight.end_s
        ]
        highlight.speech = " ".join(said) or None
