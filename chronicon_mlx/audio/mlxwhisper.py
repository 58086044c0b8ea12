"""Speech to text with mlx-whisper (MLX: the GPU of Apple Silicon; MLX's CPU build
elsewhere). Voice activity detection is the same Silero model as the faster-whisper
engine's, so both transcribe the same voiced audio."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from .speech import SpeechSegment, VoiceRegion, placed, silero_regions
from .track import Samples

RANDOM_WEIGHTS_OPTIONS = {
    "temperature": 0.0,
    "compression_ratio_threshold": None,
    "logprob_threshold": None,
    "no_speech_threshold": None,
}
"""For a random-weight checkpoint: one greedy pass per window, kept whatever it says (the
fallbacks at higher temperatures would decode each window six times over for noise)."""


@dataclass
class MLXWhisper:
    """An mlx-whisper model in `folder` (``config.json`` and ``weights.safetensors``)."""

    folder: Path
    model: str
    name: str = "mlx-whisper"
    random_weights: bool = False

    def __post_init__(self) -> None:
        from ..native import blas

        # mlx-whisper imports MLX, which keeps the BLAS it first finds: the optimised one
        # is loaded before, or a SmolVLM2 on MLX loaded later would run on the slow one.
        blas.preload()
        import mlx_whisper  # noqa: F401  (fails early when the package is missing)

        from .random_whisper import MARK

        self.random_weights = (self.folder / MARK).is_file()

    def voice(self, samples: Samples, offset_s: float) -> list[VoiceRegion]:
        """Where Silero voice activity detection hears a voice in `samples`."""
        return silero_regions(samples, offset_s)

    def transcribe(self, speech: Samples, spans: Sequence[VoiceRegion]) -> list[SpeechSegment]:
        """Segments of `speech`, the audio of `spans` one after another, placed back in the
        video's timeline."""
        import mlx_whisper

        if not len(speech):
            return []
        options = RANDOM_WEIGHTS_OPTIONS if self.random_weights else {}
        result = mlx_whisper.transcribe(
            speech, path_or_hf_repo=str(self.folder), verbose=None, **options
        )
        found = ((float(s["start"]), float(s["end"]), str(s["text"])) for s in result["segments"])
        return placed(found, len(speech), spans)


def is_mlx_whisper(folder: Path) -> bool:
    """True for a folder in mlx-whisper's layout."""
    has_weights = (folder / "weights.safetensors").is_file() or (folder / "weights.npz").is_file()
    return (
        has_weights and (folder / "config.json").is_file() and not (folder / "model.bin").exists()
    )
