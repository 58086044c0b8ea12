"""SRT and WebVTT captions: each window's description while that window plays, or what
was said (the speech transcript) as it is said."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from ..audio.hear import Hearing
from ..files import atomic_write_text
from ..highlight.result import WindowResult
from ..timecodes import format_caption_time
from .escape import srt, vtt


def _cues(windows: Sequence[WindowResult]) -> list[tuple[float, float, str]]:
    """(start, end, raw text) per window; a window's cue ends where the next one starts, so
    overlapping windows never show two captions at once."""
    ordered = sorted(windows, key=lambda w: w.start_s)
    cues = []
    for position, window in enumerate(ordered):
        end = window.end_s
        if position + 1 < len(ordered):
            end = min(end, ordered[position + 1].start_s)
        if window.significance is None or window.description is None:
            text = "(unscored)"
        else:
            text = f"[{window.significance}/10] {window.description}"
        if end > window.start_s:
            cues.append((window.start_s, end, text))
    return cues


def speech_cues(heard: Hearing | None) -> list[tuple[float, float, str]]:
    """(start, end, raw text) per transcript segment (none without speech)."""
    if heard is None:
        return []
    return [(s.start_s, s.end_s, s.text) for s in heard.segments if s.end_s > s.start_s]


def srt_text(windows: Sequence[WindowResult]) -> str:
    """SubRip captions of the windows."""
    return srt_of(_cues(windows))


def vtt_text(windows: Sequence[WindowResult]) -> str:
    """WebVTT captions of the windows."""
    return vtt_of(_cues(windows))


def srt_of(cues: Sequence[tuple[float, float, str]]) -> str:
    """SubRip captions of (start, end, text) cues."""
    blocks = []
    for number, (start, end, text) in enumerate(cues, start=1):
        blocks.append(
            f"{number}\n{format_caption_time(start)} --> {format_caption_time(end)}\n{srt(text)}\n"
        )
    return "\n".join(blocks)


def vtt_of(cues: Sequence[tuple[float, float, str]]) -> str:
    """WebVTT captions of (start, end, text) cues."""
    blocks = ["WEBVTT\n"]
    for number, (start, end, text) in enumerate(cues, start=1):
        span = f"{format_caption_time(start, '.')} --> {format_caption_time(end, '.')}"
        blocks.append(f"{number}\n{span}\n{vtt(text)}\n")
    return "\n".join(blocks)


def write_srt(windows: Sequence[WindowResult], path: Path) -> Path:
    """Write SubRip captions atomically."""
    return atomic_write_text(path, srt_text(windows))


def write_vtt(windows: Sequence[WindowResult], path: Path) -> Path:
    """Write WebVTT captions atomically."""
    return atomic_write_text(path, vtt_text(windows))
