"""User defaults from ``$XDG_CONFIG_HOME/chronicon-mlx/config.toml`` (else ``~/.config``).

Flags override the file; the file overrides the built-in defaults. The file may also hold
prompt profiles in ``[profiles.NAME]`` tables (see `profiles`)::

    model = "256m"
    backend = "mlx"
    frames = 12
    output = "~/Videos/analyses"
    formats = ["json", "md", "html"]
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import UsageError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

CONFIG_FILE = "config.toml"
FORMATS = ("json", "srt", "vtt", "md", "html")


@dataclass(frozen=True)
class Setting:
    """One key of the config file: its type, built-in default and meaning."""

    kind: str
    default: Any
    help: str


SETTINGS: dict[str, Setting] = {
    "model": Setting("string", "500m", "model alias, Hub id or folder"),
    "backend": Setting("string", "auto", "auto, mlx or transformers"),
    "device": Setting("string", "auto", "auto, mps, cuda or cpu"),
    "dtype": Setting("string", "auto", "auto, float32, float16 or bfloat16"),
    "frames": Setting("integer", 8, "frames per analysis (1-64)"),
    "max_tokens": Setting("integer", 256, "most tokens per answer"),
    "output": Setting("string", "results", "folder for records and reports"),
    "formats": Setting("list of strings", ["json", "md"], "highlights formats"),
    "profile": Setting("string", "general", "default profile of highlights"),
}
_CHOICES = {
    "backend": ("auto", "mlx", "transformers"),
    "device": ("auto", "mps", "cuda", "cpu"),
    "dtype": ("auto", "float32", "float16", "bfloat16"),
}
_RANGES = {"frames": (1, 64), "max_tokens": (1, 8192)}


def config_dir() -> Path:
    """``$XDG_CONFIG_HOME/chronicon-mlx`` (else ``~/.config/chronicon-mlx``)."""
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base).expanduser() / "chronicon-mlx"


def config_path() -> Path:
    """Where the config file is read from."""
    return config_dir() / CONFIG_FILE


def read_toml(path: Path) -> dict[str, Any]:
    """A TOML file's data; a clear error naming the file when it cannot be read or parsed."""
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read {path}: {exc}", hint="check the file") from exc
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(
            f"{path} is not valid TOML: {exc}", hint="fix the line it names and try again"
        ) from exc


@dataclass(frozen=True)
class Settings:
    """The effective defaults and where each came from ("built-in" or the file's path)."""

    values: dict[str, Any]
    sources: dict[str, str]
    path: Path

    def __getitem__(self, key: str) -> Any:
        return self.values[key]

    def output_folder(self) -> Path:
        """The configured output folder, with ``~`` expanded."""
        return Path(str(self.values["output"])).expanduser()


def load(path: Path | None = None) -> Settings:
    """Built-in defaults overridden by the config file (when it exists)."""
    path = path or config_path()
    values = {key: setting.default for key, setting in SETTINGS.items()}
    sources = dict.fromkeys(SETTINGS, "built-in")
    if not path.is_file():
        return Settings(values, sources, path)
    for key, value in read_toml(path).items():
        if key == "profiles":
            continue  # read by profiles.load
        if key not in SETTINGS:
            raise UsageError(
                f"{path}: unknown setting '{key}'",
                hint=f"settings: {', '.join(SETTINGS)}, and [profiles.NAME] tables",
            )
        values[key] = _check(path, key, value)
        sources[key] = str(path)
    return Settings(values, sources, path)


def _check(path: Path, key: str, value: Any) -> Any:
    setting = SETTINGS[key]
    where = f"{path}: '{key}'"
    if setting.kind == "integer":
        low, high = _RANGES[key]
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise UsageError(
                f"{where} must be an integer from {low} to {high} (got {value!r})",
                hint=f"{key} = {setting.default}",
            )
        return value
    if setting.kind == "list of strings":
        items = value.split(",") if isinstance(value, str) else value
        if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
            raise UsageError(
                f"{where} must be a list of strings (got {value!r})",
                hint='formats = ["json", "md"]',
            )
        return checked_formats(items, f"{where} has an unknown format")
    if not isinstance(value, str) or not value.strip():
        raise UsageError(
            f"{where} must be a non-empty string (got {value!r})",
            hint=f'{key} = "{setting.default}"',
        )
    choices = _CHOICES.get(key)
    if choices and value not in choices:
        raise UsageError(
            f"{where} must be one of {', '.join(choices)} (got {value!r})",
            hint=f'{key} = "{setting.default}"',
        )
    return value.strip()


def split_formats(value: str | list[str]) -> tuple[list[str], list[str]]:
    """Output formats from "json,md" or a list: (the known ones, once each, in order; the
    unknown ones)."""
    items = value.split(",") if isinstance(value, str) else value
    chosen = list(dict.fromkeys(i.strip().lower() for i in items if i.strip()))
    return [f for f in chosen if f in FORMATS], [f for f in chosen if f not in FORMATS]


def checked_formats(value: str | list[str], lead: str) -> list[str]:
    """`split_formats`, failing with "<lead> '<format>'" when one is unknown or none is given."""
    chosen, unknown = split_formats(value)
    if unknown or not chosen:
        raise UsageError(
            f"{lead} '{unknown[0] if unknown else value}'",
            hint=f"choose any of {','.join(FORMATS)} (comma-separated)",
        )
    return chosen


def resolve(flag: Any, key: str, settings: Settings) -> Any:
    """A flag's value when given (not None), else the config file's or the built-in one."""
    return settings[key] if flag is None else flag
