"""Speech to text: what every engine returns, and the protocol an engine follows."""

from __future__ import annotations

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


@dataclass(frozen=True)
class Heard:
    """One chunk's speech: the voice regions and the transcript segments within them."""

    regions: list[VoiceRegion]
    segments: list[SpeechSegment]


class SpeechEngine(Protocol):
    """A loaded speech model that transcribes 16 kHz mono audio."""

    name: str
    """The engine ("faster-whisper", "mlx-whisper")."""
    model: str
    """The model it loaded (a size, a Hub id or a folder)."""
    random_weights: bool
    """True for a checkpoint built offline with random weights (its words are noise)."""

    def transcribe(self, samples: Samples, offset_s: float) -> Heard:
        """Voice regions and segments of `samples`, whose first sample plays at `offset_s`;
        only what voice activity detection keeps is transcribed."""
        ...
