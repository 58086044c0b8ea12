"""The audio stage: the chosen track read in chunks, its loudness per second, and (with a
speech engine) its voice regions and transcript, all in the video's timeline."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .loudness import LoudnessMeter
from .speech import SpeechEngine, SpeechSegment, VoiceRegion
from .track import (
    CHUNK_S,
    RATE,
    AudioStream,
    AudioUnreadable,
    Chunk,
    Damage,
    Samples,
    audio_streams,
    pick_stream,
    read_chunks,
)


@dataclass
class Hearing:
    """What was heard between `start_s` and `end_s` of a video."""

    stream: AudioStream | None
    start_s: float = 0.0
    end_s: float = 0.0
    loudness: list[float] = field(default_factory=list)
    """Loudness (LUFS) of each whole second from `start_s`."""
    regions: list[VoiceRegion] = field(default_factory=list)
    segments: list[SpeechSegment] = field(default_factory=list)
    speech_model: str | None = None
    speech_engine: str | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def transcribed(self) -> bool:
        """True when a speech engine listened (even if nobody spoke)."""
        return self.speech_engine is not None

    def to_dict(self) -> dict[str, Any]:
        """The audio facts, voice regions and transcript for the JSON record."""
        return {
            "track": self.stream.describe() if self.stream else None,
            "start_s": round(self.start_s, 3),
            "end_s": round(self.end_s, 3),
            "speech_model": self.speech_model,
            "speech_engine": self.speech_engine,
            "voice_regions": [r.to_dict() for r in self.regions],
            "transcript": [s.to_dict() for s in self.segments],
            "loudness_lufs": [round(v, 1) for v in self.loudness],
        }


Progress = Callable[[float], None]
SPEECH_BATCH_S = 600.0
"""Seconds of voiced audio transcribed in one call (38 MB of float32): a ten-minute talk is
read as faster-whisper reads a whole file."""


class Speech:
    """Voiced audio gathered across chunks and transcribed a batch at a time, so Whisper's
    30-second windows are filled as when it reads the whole file, while at most about a
    chunk's worth of speech is held."""

    def __init__(self, engine: SpeechEngine) -> None:
        self.engine = engine
        self.pieces: list[Samples] = []
        self.spans: list[VoiceRegion] = []

    def add(self, chunk: Chunk) -> list[VoiceRegion]:
        """Detect the voice in `chunk` and keep its audio; returns the regions."""
        regions = self.engine.voice(chunk.samples, chunk.start_s)
        for region in regions:
            first = round((region.start_s - chunk.start_s) * RATE)
            last = round((region.end_s - chunk.start_s) * RATE)
            self.pieces.append(chunk.samples[first:last])
            self.spans.append(region)
        return regions

    def ready(self, least_s: float) -> list[SpeechSegment]:
        """The transcript of the kept speech once it lasts `least_s` seconds (0: now)."""
        held = sum(len(piece) for piece in self.pieces)
        if not held or held < least_s * RATE:
            return []
        speech = np.concatenate(self.pieces)
        segments = self.engine.transcribe(speech, self.spans)
        self.pieces, self.spans = [], []
        return segments


def hear(
    path: Path,
    engine: SpeechEngine | None,
    track: int | None = None,
    start_s: float = 0.0,
    end_s: float | None = None,
    chunk_s: float = CHUNK_S,
    on_progress: Progress | None = None,
) -> Hearing:
    """Read the audio track of `path` (the default one, or `track`) from `start_s` to
    `end_s`: loudness always, speech when `engine` is given. A video without audio, or with
    a track that cannot be decoded, gives an empty `Hearing` with a note; `on_progress`
    receives the seconds read so far."""
    try:
        streams = audio_streams(path)
    except AudioUnreadable as exc:
        return Hearing(None, notes=[f"the audio cannot be read ({exc}): vision only"])
    if not streams:
        return Hearing(None, notes=["the video has no audio track: vision only"])
    stream = pick_stream(streams, track)
    heard = Hearing(stream, start_s=start_s, end_s=start_s)
    if engine is not None:
        heard.speech_model, heard.speech_engine = engine.model, engine.name
    meter = LoudnessMeter()
    speech = Speech(engine) if engine is not None else None
    damage = Damage()
    try:
        for chunk in read_chunks(path, stream, start_s, end_s, chunk_s, damage):
            meter.feed(chunk.samples)
            if speech is not None:
                heard.regions.extend(speech.add(chunk))
                heard.segments.extend(speech.ready(SPEECH_BATCH_S))
            heard.end_s = chunk.end_s
            if on_progress is not None:
                on_progress(heard.end_s - start_s)
    except AudioUnreadable as exc:
        heard.notes.append(f"{exc}; what was read before it is kept")
    if speech is not None:
        heard.segments.extend(speech.ready(0.0))
    if damage.packets:
        heard.notes.append(
            f"{damage.packets} damaged audio packets ({damage.seconds:.1f} s) were read as silence"
        )
    heard.loudness = meter.seconds
    if heard.end_s <= start_s:
        heard.notes.append(f"audio track {stream.number} holds no samples: vision only")
    return heard
