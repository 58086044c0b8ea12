"""How a model session runs, declared once: the CLI, the Python API, archive workers and the
server all describe a session with a `SessionSpec` and open it as ``ModelSession(spec)``."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..backends.base import Tuning
from ..options import choices
from ..options.choices import (
    DEFAULT_MODEL,
    DEFAULT_SPEECH_MODEL,
    BackendName,
    Device,
    Dtype,
    Quantize,
)


@dataclass(frozen=True)
class SessionSpec:
    """A model session's settings.

    `model`: an alias (``256m``, ``500m``, ``2.2b``), ``tiny-random``, a Hub id or a folder.
    `backend`, `device`, `dtype`: ``auto`` picks the best this machine runs (see
    `backends.candidates`). `quantize`: ``auto`` quantizes only a model that fits in memory
    no other way. `cache_gb`: the video cache's size limit (0: no video cache).
    `allow_download`: whether a model missing from the Hugging Face cache may be fetched.
    `tuning`: how the backend runs its kernels here (threads, kernel choices), recorded in
    results. `speech_model`: the speech-to-text model (a faster-whisper size such as
    ``base``, ``tiny-random``, a Hub id or a folder), loaded on first use.
    """

    model: str = DEFAULT_MODEL
    backend: BackendName = "auto"
    device: Device = "auto"
    dtype: Dtype = "auto"
    quantize: Quantize = "auto"
    cache_gb: float = 0.0
    allow_download: bool = True
    tuning: Tuning = field(default_factory=Tuning)
    speech_model: str = DEFAULT_SPEECH_MODEL

    def __post_init__(self) -> None:
        choices.check_choice(self.backend, choices.BACKENDS, "backend")
        choices.check_choice(self.device, choices.DEVICES, "device")
        choices.check_choice(self.dtype, choices.DTYPES, "dtype")
        choices.check_choice(self.quantize, choices.QUANTIZE, "quantization")
        choices.CACHE_GB.check("cache_gb", self.cache_gb, "0 turns the video cache off")
