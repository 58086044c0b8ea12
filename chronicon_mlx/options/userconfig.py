"""User defaults from ``$XDG_CONFIG_HOME/chronicon-mlx/config.toml`` (else ``~/.config``).

Flags override a profile, a profile overrides the file, the file overrides the built-in
defaults (`resolve`). The file may also hold prompt profiles in ``[profiles.NAME]``
tables (see `profiles`)::

    model = "256m"
    backend = "mlx"
    frames = 12
    output = "~/Videos/analyses"
    formats = ["json", "md", "html"]
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import paths
from ..errors import UsageError
from . import choices
from .toml import check_number, check_string, read_toml


@dataclass(frozen=True)
class Setting:
    """One key of the config file: its type, built-in default and meaning."""

    kind: str
    default: Any
    help: str
    allowed: tuple[str, ...] = ()
    limits: choices.Range | None = None


SETTINGS: dict[str, Setting] = {
    "model": Setting("string", choices.DEFAULT_MODEL, "model alias, Hub id or folder"),
    "backend": Setting("string", "auto", "auto, mlx or transformers", choices.BACKENDS),
    "device": Setting("string", "auto", "auto, mps, cuda or cpu", choices.DEVICES),
    "dtype": Setting("string", "auto", "auto, float32, float16 or bfloat16", choices.DTYPES),
    "speech_model": Setting(
        "string",
        choices.DEFAULT_SPEECH_MODEL,
        "speech model: tiny, base, small, a Hub id, a folder",
    ),
    "frames": Setting(
        "integer", choices.DEFAULT_FRAMES, "frames per analysis (1-64)", limits=choices.FRAMES
    ),
    "max_tokens": Setting(
        "integer", choices.DEFAULT_MAX_TOKENS, "most tokens per answer", limits=choices.MAX_TOKENS
    ),
    "output": Setting("string", choices.DEFAULT_OUTPUT, "folder for records and reports"),
    "formats": Setting("list of strings", list(choices.DEFAULT_FORMATS), "highlights formats"),
    "profile": Setting("string", choices.DEFAULT_PROFILE, "default profile of highlights"),
    "library": Setting("string", "", "the library database (empty: library.db in the data folder)"),
    "cache_gb": Setting(
        "number",
        choices.DEFAULT_CACHE_GB,
        "most GB the video cache keeps (0 turns it off)",
        limits=choices.CACHE_GB,
    ),
}


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
    path = path or paths.config_path()
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
    if setting.kind in ("integer", "number"):
        assert setting.limits is not None
        return check_number(
            where, value, setting.limits, "an integer", f"{key} = {setting.default}"
        )
    if setting.kind == "list of strings":
        items = value.split(",") if isinstance(value, str) else value
        if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
            raise UsageError(
                f"{where} must be a list of strings (got {value!r})",
                hint='formats = ["json", "md"]',
            )
        return checked_formats(items, f"{where} has an unknown format")
    text = check_string(where, value, f'{key} = "{setting.default}"')
    if setting.allowed and text not in setting.allowed:
        raise UsageError(
            f"{where} must be one of {', '.join(setting.allowed)} (got {value!r})",
            hint=f'{key} = "{setting.default}"',
        )
    return text


def split_formats(value: str | list[str]) -> tuple[list[str], list[str]]:
    """Output formats from "json,md" or a list: (the known ones, once each, in order; the
    unknown ones)."""
    items = value.split(",") if isinstance(value, str) else value
    chosen = list(dict.fromkeys(i.strip().lower() for i in items if i.strip()))
    return [f for f in chosen if f in choices.FORMATS], [
        f for f in chosen if f not in choices.FORMATS
    ]


def checked_formats(value: str | list[str], lead: str) -> list[str]:
    """`split_formats`, failing with "<lead> '<format>'" when one is unknown or none is given."""
    chosen, unknown = split_formats(value)
    if unknown or not chosen:
        raise UsageError(
            f"{lead} '{unknown[0] if unknown else value}'",
            hint=f"choose any of {','.join(choices.FORMATS)} (comma-separated)",
        )
    return chosen


def resolve(flag: Any, key: str, settings: Settings, profile: object | None = None) -> Any:
    """The value a run uses for `key`: the flag when given (not None), else the profile's
    when it has one, else the config file's, else the built-in default (None for a key
    that has none)."""
    if flag is not None:
        return flag
    if profile is not None and hasattr(profile, key):
        return getattr(profile, key)
    return settings.values.get(key)
