"""Loudness as a highlight cue: each window's loudness against the video's own median
second (crowds and commentators get loud at goals)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from ..analysis.runlog import RunLog
from ..audio.hear import hear
from ..audio.loudness import excitement, window_loudness
from .params import HighlightsConfig
from .result import WindowResult


def measure_excitement(
    path: Path, windows: Sequence[WindowResult], config: HighlightsConfig, log: RunLog
) -> list[WindowResult] | None:
    """The windows with their loudness and excitement, from the video's default audio
    track (the run's "loudness" stage); None, with a note, when there is none to measure."""
    with log.stage("loudness"):
        heard = hear(path, None, None, config.start_s, config.end_s)
    if not heard.loudness:
        reason = heard.notes[0] if heard.notes else "the audio track holds no samples"
        log.note(f"loudness not used in the ranking: {reason}")
        return None
    seconds, origin = heard.loudness, heard.start_s
    measured = []
    for window in windows:
        start, end = window.start_s - origin, window.end_s - origin
        level = window_loudness(seconds, start, end)
        cue = excitement(seconds, start, end)
        measured.append(replace(window, loudness_lufs=level, excitement=cue))
    return measured
