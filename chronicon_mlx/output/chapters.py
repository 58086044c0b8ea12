"""Chapters of one video: FFmetadata (``ffmpeg -i video -i chapters -map_metadata 1``),
WebVTT chapters (the ``<track kind="chapters">`` of a player) and a YouTube description
list."""

from __future__ import annotations

from collections.abc import Sequence

from ..errors import UsageError
from ..timecodes import format_caption_time
from .marks import Mark

YOUTUBE_MIN_S = 10.0
"""YouTube ignores chapters shorter than this."""


def one_video(marks: Sequence[Mark]) -> None:
    """Chapters belong to one video: refuse marks of several."""
    if len({mark.video for mark in marks}) > 1:
        raise UsageError(
            "chapters belong to one video, and these moments come from several",
            hint="add --video to keep one video's moments",
        )


def _escaped(text: str) -> str:
    """FFmetadata's escaping: '=', ';', '#', '\\' and newlines take a backslash."""
    for special in ("\\", "=", ";", "#", "\n"):
        text = text.replace(special, "\\" + special)
    return text


def ffmetadata_of(marks: Sequence[Mark]) -> str:
    """The marks as an FFMETADATA1 file of chapters (times in milliseconds)."""
    one_video(marks)
    lines = [";FFMETADATA1"]
    for mark in _ordered(marks):
        lines += [
            "",
            "[CHAPTER]",
            "TIMEBASE=1/1000",
            f"START={round(mark.start_s * 1000)}",
            f"END={round(mark.end_s * 1000)}",
            f"title={_escaped(mark.title)}",
        ]
    return "\n".join(lines) + "\n"


def chapters_vtt_of(marks: Sequence[Mark]) -> str:
    """The marks as WebVTT chapter cues (the text is plain: `&` and `<` are escaped)."""
    one_video(marks)
    cues = ["WEBVTT", ""]
    for number, mark in enumerate(_ordered(marks), 1):
        text = mark.title.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
        cues += [str(number), f"{_vtt(mark.start_s)} --> {_vtt(mark.end_s)}", text, ""]
    return "\n".join(cues)


def youtube_of(marks: Sequence[Mark]) -> str:
    """A YouTube description's chapter list: starts at 0:00 (an "Intro" when the first mark
    starts later), one line per mark, marks closer than YOUTUBE_MIN_S to the previous left
    out (YouTube would drop the list)."""
    one_video(marks)
    lines: list[str] = []
    last: float | None = None
    for mark in _ordered(marks):
        if last is None and mark.start_s >= YOUTUBE_MIN_S:
            lines.append("0:00 Intro")
            last = 0.0
        start = 0.0 if last is None else mark.start_s
        if last is not None and start - last < YOUTUBE_MIN_S:
            continue
        lines.append(f"{_youtube_time(start)} {mark.title}")
        last = start
    return "\n".join(lines) + "\n"


def _youtube_time(seconds: float) -> str:
    """0:00, 1:05, 1:02:03 (whole seconds)."""
    whole = int(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def _ordered(marks: Sequence[Mark]) -> list[Mark]:
    return sorted(marks, key=lambda mark: (mark.start_s, mark.end_s))


def _vtt(seconds: float) -> str:
    return format_caption_time(seconds, ".")
