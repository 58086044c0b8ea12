"""Times given by users: seconds, MM:SS or H:MM:SS."""

from __future__ import annotations

import math
import re

from .errors import UsageError, field

_CLOCK = re.compile(r"^(?:(\d+):)?(\d{1,2}):(\d{1,2}(?:\.\d+)?)$")


def parse_time(value: str, name: str) -> float:
    """Seconds from "90", "90.5", "1:30" or "0:01:30"; a clear usage error (naming the
    setting `name`) otherwise."""
    option = field(name)
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        match = _CLOCK.match(text)
        if match is None:
            raise UsageError(
                f"{option} '{value}' is not a time",
                hint="use seconds (90), MM:SS (1:30) or H:MM:SS (0:01:30)",
            ) from None
        hours, minutes, secs = match.groups()
        if (hours is not None and int(minutes) >= 60) or float(secs) >= 60:
            raise UsageError(
                f"{option} '{value}' is not a valid clock time",
                hint="minutes and seconds run from 0 to 59",
            ) from None
        seconds = int(hours or 0) * 3600 + int(minutes) * 60 + float(secs)
    if seconds < 0 or seconds != seconds:
        raise UsageError(f"{option} must not be negative (got '{value}')", hint="start at 0")
    if math.isinf(seconds):
        raise UsageError(
            f"{option} must be a time, not infinity (got '{value}')",
            hint="leave it out to go to the end of the video",
        )
    return seconds


def format_time(seconds: float) -> str:
    """H:MM:SS of a time in whole seconds (rounded down), e.g. "0:01:05"."""
    whole = int(max(0.0, seconds))
    return f"{whole // 3600}:{whole % 3600 // 60:02d}:{whole % 60:02d}"


def format_caption_time(seconds: float, separator: str = ",") -> str:
    """HH:MM:SS,mmm (SRT) or HH:MM:SS.mmm (WebVTT, with separator ".")."""
    millis = round(max(0.0, seconds) * 1000)
    hours, rest = divmod(millis, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    secs, millis = divmod(rest, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}{separator}{millis:03d}"
