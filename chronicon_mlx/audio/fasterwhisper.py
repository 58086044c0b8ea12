"""Speech to text with faster-whisper (CTranslate2: int8 on the CPU, float16 on CUDA).

Silero voice activity detection (the ONNX model faster-whisper ships) runs on each chunk:
its regions are kept for the record, and only their audio, gathered across chunks, is
handed to Whisper: the work faster-whisper's own ``vad_filter`` does, so music and crowd
noise are never transcribed.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .speech import SpeechSegment, VoiceRegion
from .track import RATE, Samples


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
        from faster_whisper.vad import VadOptions, get_speech_timestamps

        found = get_speech_timestamps(samples, VadOptions(), sampling_rate=RATE)
        return [
            VoiceRegion(offset_s + int(f["start"]) / RATE, offset_s + int(f["end"]) / RATE)
            for f in found
        ]

    def transcribe(self, speech: Samples, spans: Sequence[VoiceRegion]) -> list[SpeechSegment]:
        """Segments of `speech`, the audio of `spans` one after another, placed back in the
        video's timeline."""
        if not len(speech):
            return []
        found, _ = self._whisper.transcribe(speech, vad_filter=False)
        lengths = [round((span.end_s - span.start_s) * RATE) for span in spans]
        starts: list[int] = np.cumsum([0, *lengths[:-1]]).tolist()

        def place(seconds: float) -> float:
            sample = min(round(seconds * RATE), len(speech))
            which = max(0, bisect.bisect_right(starts, sample) - 1)
            return spans[which].start_s + (sample - starts[which]) / RATE

        segments = []
        for segment in found:
            text = str(segment.text).strip()
            if text:
                segments.append(SpeechSegment(place(segment.start), place(segment.end), text))
        return segments
