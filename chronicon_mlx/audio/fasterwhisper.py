"""Speech to text with faster-whisper (CTranslate2: int8 on the CPU, float16 on CUDA).

Silero voice activity detection (the ONNX model faster-whisper ships) runs on each chunk:
its regions are kept for the record, and only their audio, gathered across chunks, is
handed to Whisper: the work faster-whisper's own ``vad_filter`` does, so music and crowd
noise are never transcribed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .speech import SpeechSegment, VoiceRegion, placed, silero_regions
from .track import Samples


@dataclass
class FasterWhisper:
    """A faster-whisper model loaded from `folder` (a CTranslate2 conversion)."""

    folder: Path
    model: str
    device: str = "cpu"
    threads: int = 0
    name: str = "faster-whisper"
    random_weights: bool = False
    _whisper: Any = field(default=None, repr=False)

    def __post_init__(self) -> None:
        from faster_whisper import WhisperModel

        from .random_whisper import MARK

        self.random_weights = (self.folder / MARK).is_file()
        compute = "int8" if self.device == "cpu" else "float16"
        self._whisper = WhisperModel(
            str(self.folder), device=self.device, compute_type=compute, cpu_threads=self.threads
        )

    def voice(self, samples: Samples, offset_s: float) -> list[VoiceRegion]:
        """Where Silero voice activity detection hears a voice in `samples` (whose first
        sample plays at `offset_s`)."""
        return silero_regions(samples, offset_s)

    def transcribe(self, speech: Samples, spans: Sequence[VoiceRegion]) -> list[SpeechSegment]:
        """Segments of `speech`, the audio of `spans` one after another, placed back in the
        video's timeline."""
        if not len(speech):
            return []
        found, _ = self._whisper.transcribe(speech, vad_filter=False)
        return placed(((s.start, s.end, str(s.text)) for s in found), len(speech), spans)
