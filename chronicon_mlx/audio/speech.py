"""Speech to text: what every engine returns, and the protocol an engine follows."""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from .track import Samples


@dataclass(frozen=True)
class SpeechSegment:
    """Words heard from `start_s` to `end_s` (seconds in the video's timeline)."""

    start_s: float
    end_s: float
    text: str

    def to_dict(self) -> dict[str, Any]:
        """The segment for the JSON record."""
        return {"start_s": round(self.start_s, 2), "end_s": round(self.end_s, 2), "text": self.text}


@dataclass(frozen=True)
class VoiceRegion:
    """Where voice activity detection heard a voice (seconds in the video's timeline)."""

    start_s: float
    end_s: float

    def to_dict(self) -> dict[str, Any]:
        """The region for the JSON record."""
        return {"start_s": round(self.start_s, 2), "end_s": round(self.end_s, 2)}


class SpeechEngine(Protocol):
    """A loaded speech model that transcribes 16 kHz mono audio."""

    name: str
    """The engine ("faster-whisper", "mlx-whisper")."""
    model: str
    """The model it loaded (a size, a Hub id or a folder)."""
    random_weights: bool
    """True for a checkpoint built offline with random weights (its words are noise)."""

    def voice(self, samples: Samples, offset_s: float) -> list[VoiceRegion]:
        """Where voice activity detection hears a voice in `samples`, whose first sample
        plays at `offset_s` (seconds in the video's timeline)."""
        ...

    def transcribe(self, speech: Samples, spans: Sequence[VoiceRegion]) -> list[SpeechSegment]:
        """The segments of `speech`, the audio of `spans` one after another, in the video's
        timeline."""
        ...


def silero_regions(samples: Samples, offset_s: float) -> list[VoiceRegion]:
    """Where Silero voice activity detection (the ONNX model faster-whisper ships) hears a
    voice in 16 kHz `samples` whose first sample plays at `offset_s`."""
    from faster_whisper.vad import VadOptions, get_speech_timestamps

    from .track import RATE

    found = get_speech_timestamps(samples, VadOptions(), sampling_rate=RATE)
    return [
        VoiceRegion(offset_s + int(f["start"]) / RATE, offset_s + int(f["end"]) / RATE)
        for f in found
    ]


def placed(
    found: Iterable[tuple[float, float, str]], length: int, spans: Sequence[VoiceRegion]
) -> list[SpeechSegment]:
    """Segments (start, end, text) of speech that is the audio of `spans` one after another
    (`length` samples in all), placed back in the video's timeline; empty texts dropped."""
    from .track import RATE

    lengths = [round((span.end_s - span.start_s) * RATE) for span in spans]
    starts: list[int] = []
    total = 0
    for size in lengths:
        starts.append(total)
        total += size

    def place(seconds: float) -> float:
        sample = min(round(seconds * RATE), length)
        which = max(0, bisect.bisect_right(starts, sample) - 1)
        return spans[which].start_s + (sample - starts[which]) / RATE

    segments = []
    for start, end, text in found:
        words = text.strip()
        if words:
            first = place(start)
            segments.append(SpeechSegment(first, max(first, place(end)), words))
    return segments
