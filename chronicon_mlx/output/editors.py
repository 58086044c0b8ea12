"""Timelines for editors: the marks as clips on one video track, written with
OpenTimelineIO, as its own ``.otio`` file or as a CMX 3600 EDL through its adapter."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..errors import UsageError
from ..files import atomic_write_text
from .marks import Mark


def _otio() -> Any:
    import opentimelineio

    return opentimelineio


def timeline_of(marks: Sequence[Mark], name: str) -> Any:
    """An OpenTimelineIO timeline: each mark a clip of its video (at the video's frame
    rate), one after the other on track V1."""
    otio = _otio()
    timeline = otio.schema.Timeline(name=name)
    track = otio.schema.Track(name="V1", kind=otio.schema.TrackKind.Video)
    timeline.tracks.append(track)
    for mark in marks:
        rate = round(mark.fps, 3) if mark.fps > 0 else 25.0
        reference = otio.schema.ExternalReference(target_url=mark.video.absolute().as_uri())
        reference.name = mark.video.stem
        start = otio.opentime.from_seconds(mark.start_s, rate).round()
        end = otio.opentime.from_seconds(mark.end_s, rate).round()
        clip = otio.schema.Clip(
            name=mark.title,
            media_reference=reference,
            source_range=otio.opentime.TimeRange.range_from_start_end_time(start, end),
        )
        track.append(clip)
    return timeline


def write_otio(marks: Sequence[Mark], path: Path, name: str) -> Path:
    """The timeline as an ``.otio`` file."""
    otio = _otio()
    return atomic_write_text(path, otio.adapters.write_to_string(timeline_of(marks, name)))


def write_edl(marks: Sequence[Mark], path: Path, name: str) -> Path:
    """The timeline as a CMX 3600 EDL (OpenTimelineIO's cmx_3600 adapter; one frame rate
    for the whole list, as the format has)."""
    otio = _otio()
    rates = {round(mark.fps, 3) for mark in marks if mark.fps > 0}
    if len(rates) > 1:
        raise UsageError(
            "an EDL has one frame rate, and these videos have several"
            f" ({', '.join(f'{r:g}' for r in sorted(rates))} fps)",
            hint="export an .otio timeline instead, or keep one video's moments with --video",
        )
    if not marks:  # the adapter needs a clip; an empty list is its title alone
        return atomic_write_text(path, f"TITLE: {' '.join(name.split())}\n\n")
    text = otio.adapters.write_to_string(timeline_of(marks, name), "cmx_3600")
    return atomic_write_text(path, text)
