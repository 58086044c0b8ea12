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


def data_dir() -> Path:
    """Where the tool keeps data of its own that is not a cache (the video library):
    ``CHRONICON_DATA``, else ``$XDG_DATA_HOME/chronicon-mlx``, else
    ``~/.local/share/chronicon-mlx``."""
    env = os.environ.get("CHRONICON_DATA")
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base).expanduser() / "chronicon-mlx"


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


def private_folder(folder: Path, what: str) -> Path:
    """`folder`, made (owner-only) when missing; an OutputError naming `what` when it is
    not a folder, or another user's, or any user may write into it (they could plant
    entries)."""
    import stat

    from .errors import OutputError

    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        info = folder.stat()
    except FileExistsError:
        info = None
    except OSError as exc:
        raise OutputError(
            f"cannot make {what} {folder}: {exc.strerror or exc}",
            hint="choose another folder with CHRONICON_CACHE",
        ) from exc
    if info is None or not stat.S_ISDIR(info.st_mode):
        raise OutputError(
            f"{what} {folder} is not a folder",
            hint="remove that file, or choose another folder with CHRONICON_CACHE",
        )
    foreign = hasattr(os, "getuid") and info.st_uid != os.getuid()
    if foreign or info.st_mode & stat.S_IWOTH:
        whose = "belongs to another user" if foreign else "can be written by any user"
        raise OutputError(
            f"{what} {folder} {whose}, who could plant entries in it",
            hint=f"make it yours alone (chown, then chmod 700 {folder}), or choose another"
            " folder with CHRONICON_CACHE",
        )
    return folder
