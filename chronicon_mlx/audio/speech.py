"""Speech to text: what every engine returns, and the protocol an engine follows."""

from __future__ import annotations

from collections.abc import Sequence
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
