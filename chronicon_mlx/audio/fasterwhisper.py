"""Speech to text with faster-whisper (CTranslate2: int8 on the CPU, float16 on CUDA).

Silero voice activity detection (the ONNX model faster-whisper ships) runs once per chunk:
its regions are kept for the record, and only their audio is handed to Whisper, the work
faster-whisper's own ``vad_filter`` does, so music and crowd noise are never transcribed.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .speech import Heard, SpeechSegment, VoiceRegion
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

    def transcribe(self, samples: Samples, offset_s: float) -> Heard:
        """Voice regions of `samples` and the transcript of their audio, in video time."""
        from faster_whisper.vad import VadOptions, get_speech_timestamps

        spans = get_speech_timestamps(samples, VadOptions(), sampling_rate=RATE)
        regions = [(int(s["start"]), int(s["end"])) for s in spans]
        heard_regions = [
            VoiceRegion(offset_s + start / RATE, offset_s + end / RATE) for start, end in regions
        ]
        if not regions:
            return Heard(heard_regions, [])
        speech = np.concatenate([samples[start:end] for start, end in regions])
        found, _ = self._whisper.transcribe(speech, vad_filter=False)
        starts = np.cumsum([0] + [end - start for start, end in regions[:-1]])

        def place(seconds: float) -> float:
            sample = min(round(seconds * RATE), len(speech))
            which = max(0, bisect.bisect_right(starts.tolist(), sample) - 1)
            return offset_s + (regions[which][0] + sample - int(starts[which])) / RATE

        segments = []
        for segment in found:
            text = str(segment.text).strip()
            if text:
                segments.append(SpeechSegment(place(segment.start), place(segment.end), text))
        return Heard(heard_regions, segments)
