"""Where Chronicon MLX keeps its files: the config folder and the cache."""

from __future__ import annotations

import os
from pathlib import Path

CONFIG_FILE = "config.toml"
PROFILES_FILE = "profiles.toml"


def config_dir() -> Path:
    """``$XDG_CONFIG_HOME/chronicon-mlx`` (else ``~/.config/chronicon-mlx``)."""
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base).expanduser() / "chronicon-mlx"


def config_path() -> Path:
    """Where the config file is read from."""
    return config_dir() / CONFIG_FILE


def profiles_path() -> Path:
    """Where user profiles are read from when no profiles file is named."""
    return config_dir() / PROFILES_FILE


def cache_root() -> Path:
    """The cache folder: built checkpoints, quantized copies (``CHRONICON_CACHE``, else
    ``$XDG_CACHE_HOME/chronicon-mlx``, else ``~/.cache/chronicon-mlx``)."""
    env = os.environ.get("CHRONICON_CACHE")
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base).expanduser() / "chronicon-mlx"


def video_cache_dir() -> Path:
    """Where the video cache keeps its entries (``CHRONICON_VIDEO_CACHE``, else ``videos``
    in the cache folder)."""
    env = os.environ.get("CHRONICON_VIDEO_CACHE")
    return Path(env).expanduser() if env else cache_root() / "videos"
