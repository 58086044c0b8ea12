"""Hugging Face Hub access: the local cache first, a download with progress only when needed."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Literal

from ..errors import ModelError, field

ALLOW_PATTERNS = ["*.json", "*.safetensors", "*.jinja", "*.txt", "*.model"]
HUB_TIMEOUT_S = 15.0
"""Seconds any one Hub request may wait for an answer (the library's own client waits
forever by default)."""


def _answers(repo: str) -> None:
    """Ask the Hub about `repo` with a deadline before any download starts (its client waits
    forever on a server that accepts the connection and never answers)."""
    from huggingface_hub import HfApi

    HfApi().model_info(repo, timeout=HUB_TIMEOUT_S)


def hub_offline() -> bool:
    """True when HF_HUB_OFFLINE (or TRANSFORMERS_OFFLINE) forbids network access."""
    from huggingface_hub import constants

    return bool(constants.HF_HUB_OFFLINE)


def cached_path(repo: str) -> Path | None:
    """The cached snapshot folder of a Hub repo, or None when it is not fully cached."""
    from huggingface_hub import snapshot_download

    try:
        folder = snapshot_download(repo, local_files_only=True, allow_patterns=ALLOW_PATTERNS)
    except Exception:
        return None
    path = Path(folder)
    if not (path / "config.json").is_file() or not any(path.glob("*.safetensors")):
        return None
    return path


def fetch(
    repos: list[str],
    *,
    allow_download: bool = True,
    on_contact: Callable[[str], None] | None = None,
) -> tuple[str, Path, Literal["cache", "download"]]:
    """Return (repo, folder, source) for the first cached repo, else download the first one.

    `source` is "cache" or "download". `on_contact` hears before the Hub is contacted;
    every request has a deadline. huggingface_hub shows its own progress bars on stderr
    while downloading.
    """
    for repo in repos:
        path = cached_path(repo)
        if path is not None:
            return repo, path, "cache"
    repo = repos[0]
    hint = (
        f"download it on a connected machine with `hf download {repo}`, pass a local"
        f" checkpoint folder with {field('model')}, or try the tool offline with"
        f" {field('model', 'tiny-random')} (random weights: the answers are noise)"
    )
    if not allow_download or hub_offline():
        raise ModelError(f"{repo} is not in the Hugging Face cache and the Hub is offline", hint)
    from huggingface_hub import snapshot_download

    if on_contact is not None:
        on_contact(f"contacting the Hugging Face Hub for {repo} (not in the cache) ...")
    try:
        _answers(repo)
        folder = snapshot_download(repo, allow_patterns=ALLOW_PATTERNS, etag_timeout=HUB_TIMEOUT_S)
    except KeyboardInterrupt:
        raise
    except Exception as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        if "timeout" in type(exc).__name__.lower() or reason == "timed out":
            reason = f"the Hub did not answer within {HUB_TIMEOUT_S:g} s"
        raise ModelError(f"cannot download {repo}: {reason}", hint) from exc
    return repo, Path(folder), "download"
