"""Finding and loading a speech model: ``tiny-random`` (built offline), a folder, or a
faster-whisper size or Hub id from the Hugging Face cache (downloaded with progress when
allowed)."""

from __future__ import annotations

from pathlib import Path

from ..errors import ModelError, field
from ..model.hub import HUB_TIMEOUT_S, hub_offline
from ..options.choices import DEFAULT_SPEECH_MODEL as DEFAULT_SPEECH_MODEL
from .speech import SpeechEngine

SPEECH_MODELS = ("tiny", "base", "small", "large-v3-turbo", "tiny-random")
"""The names `--speech-model` suggests (any faster-whisper size, Hub id or folder works)."""


CT2_REPOS = {
    "tiny": "Systran/faster-whisper-tiny",
    "base": "Systran/faster-whisper-base",
    "small": "Systran/faster-whisper-small",
    "large-v3-turbo": "mobiuslabsgmbh/faster-whisper-large-v3-turbo",
}
"""The sizes' CTranslate2 conversions on the Hub (as faster-whisper names them)."""
CT2_FILES = [
    "config.json",
    "preprocessor_config.json",
    "model.bin",
    "tokenizer.json",
    "vocabulary.*",
]

MLX_REPOS = {
    "tiny": "mlx-community/whisper-tiny",
    "base": "mlx-community/whisper-base-mlx",
    "small": "mlx-community/whisper-small-mlx",
    "large-v3-turbo": "mlx-community/whisper-large-v3-turbo",
}
"""The sizes' conversions for mlx-whisper on the Hub."""


def default_engine() -> str:
    """mlx-whisper on Apple Silicon when it is installed (the `mlx-whisper` extra),
    faster-whisper otherwise."""
    import importlib.util
    import platform
    import sys

    apple = sys.platform == "darwin" and platform.machine() == "arm64"
    if apple and importlib.util.find_spec("mlx_whisper") is not None:
        return "mlx-whisper"
    return "faster-whisper"


class SpeechUnavailable(Exception):
    """No speech model can be had without asking for it (the message says why)."""


def speech_folder(model: str, allow_download: bool) -> Path:
    """The local folder of speech model `model`: built, given, cached or downloaded.
    `SpeechUnavailable` when it is not here and may not be fetched."""
    if model == "tiny-random":
        from .random_whisper import cached_whisper

        try:
            return cached_whisper("tiny-random", engine=default_engine())
        except ImportError as exc:
            raise SpeechUnavailable(
                f"building tiny-random needs torch and transformers ({exc.name} is missing)"
            ) from exc
    given = Path(model).expanduser()
    if given.is_dir():
        return given
    if model.startswith((".", "/", "~")):
        raise ModelError(
            f"the speech model folder {model} does not exist",
            hint=f"give {field('speech_model')} a faster-whisper folder, a size"
            f" ({', '.join(SPEECH_MODELS)}) or a Hub id",
        )
    if default_engine() == "mlx-whisper" and model in MLX_REPOS:
        return _hub_folder(MLX_REPOS[model], model, allow_download)
    repo = CT2_REPOS.get(model, model if "/" in model else None)
    if repo is not None:  # downloaded here, so that its progress shows
        return _hub_folder(repo, model, allow_download, CT2_FILES)
    try:
        from faster_whisper.utils import download_model
    except ImportError as exc:
        raise SpeechUnavailable("faster-whisper is not installed") from exc
    try:
        return Path(download_model(model, local_files_only=True))
    except Exception as exc:
        if not allow_download:
            raise SpeechUnavailable(
                f"the speech model {model} is not downloaded and downloads are off"
            ) from exc
    try:
        return Path(download_model(model))
    except ValueError as exc:
        raise ModelError(
            f"unknown speech model {model!r}",
            hint=f"give a size ({', '.join(SPEECH_MODELS)}), a Hub id or a folder",
        ) from exc
    except Exception as exc:
        raise ModelError(
            f"the speech model {model} cannot be downloaded: {exc}",
            hint="check the network, or turn speech off (--no-speech) to go on without it",
        ) from exc


def _hub_folder(
    repo: str, model: str, allow_download: bool, files: list[str] | None = None
) -> Path:
    """A Hub repo's snapshot: from the Hugging Face cache, else downloaded with progress."""
    from huggingface_hub import snapshot_download

    try:
        return Path(snapshot_download(repo, local_files_only=True, allow_patterns=files))
    except Exception as exc:
        if not allow_download:
            raise SpeechUnavailable(
                f"the speech model {model} is not downloaded and downloads are off"
            ) from exc
    if hub_offline():
        raise SpeechUnavailable(
            f"the speech model {model} is not downloaded and the Hub is offline"
        )
    try:
        from huggingface_hub import HfApi

        HfApi().model_info(repo, timeout=HUB_TIMEOUT_S)  # a deadline before any download
        return Path(snapshot_download(repo, allow_patterns=files, etag_timeout=HUB_TIMEOUT_S))
    except KeyboardInterrupt:
        raise
    except Exception as exc:
        raise ModelError(
            f"the speech model {model} cannot be downloaded: {exc}",
            hint="check the network, or turn speech off (--no-speech) to go on without it",
        ) from exc


def load_speech(folder: Path, model: str, device: str = "cpu", threads: int = 0) -> SpeechEngine:
    """The speech engine for a local model folder: mlx-whisper for its layout
    (``weights.safetensors``), faster-whisper for CTranslate2's (``model.bin``)."""
    from .fasterwhisper import FasterWhisper
    from .mlxwhisper import MLXWhisper, is_mlx_whisper

    try:
        if is_mlx_whisper(folder):
            return MLXWhisper(folder, model)
        return FasterWhisper(folder, model, device=device, threads=threads)
    except ImportError as exc:
        raise ModelError(
            f"the speech model in {folder} needs {exc.name}, which is not installed",
            hint=f"pip install {'mlx-whisper' if exc.name == 'mlx_whisper' else exc.name}",
        ) from exc
    except (RuntimeError, ValueError, OSError) as exc:
        raise ModelError(
            f"the speech model in {folder} cannot be loaded: {exc}",
            hint="give a faster-whisper (CTranslate2) model folder, a size or a Hub id",
        ) from exc
