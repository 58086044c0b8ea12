"""Prompt profiles: a system prompt, a user prompt, a scoring rubric and defaults, by name.

Built-in profiles can be overridden and new ones added in ``[profiles.NAME]`` tables of the
config file or of a profiles file (``$XDG_CONFIG_HOME/chronicon-mlx/profiles.toml`` or
``--profiles-file``)::

    [profiles.lecture]
    description = "Slides and demonstrations"
    system = "You watch recorded lectures."
    prompt = "What is being taught?"
    rubric = "10: a key result is shown; 1: nothing new on screen."
    window = 60
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from .. import errors, paths
from ..errors import UsageError
from . import choices
from .choices import DEFAULT_PROFILE as DEFAULT_PROFILE
from .toml import check_number, check_string, read_toml


@dataclass(frozen=True)
class Profile:
    """What to ask and how to score, plus the defaults a profile brings.

    `window`, `overlap` and `frames_per_window` are the highlights defaults; `frames` and
    `max_tokens` the analyze defaults. `audio_weight` (0-1) is how much a window's
    loudness against the video's median counts in the highlights ranking.
    """

    name: str
    description: str
    system: str
    prompt: str
    rubric: str
    frames: int = choices.DEFAULT_FRAMES
    max_tokens: int = choices.DEFAULT_MAX_TOKENS
    window: float = choices.DEFAULT_WINDOW_S
    overlap: float = choices.DEFAULT_OVERLAP_S
    frames_per_window: int = choices.DEFAULT_FRAMES_PER_WINDOW
    audio_weight: float = 0.0
    source: str = field(default="built-in", compare=False)


_RUBRIC = (
    "Rate significance from 1 to 10: 1-3 nothing notable (static shots, scene-setting, "
    "idle moments); 4-5 ordinary activity; 6-7 a clear, notable event; 8-9 a major moment "
    "people would want to rewatch; 10 the single most important moment of a video."
)

BUILTIN: dict[str, Profile] = {
    profile.name: profile
    for profile in (
        Profile(
            name="general",
            description="Describe what happens",
            system="You are a careful video analyst. Describe only what is visible.",
            prompt=choices.DEFAULT_PROMPT,
            rubric=_RUBRIC,
        ),
        Profile(
            name="highlights",
            description="Key dramatic action and notable events, skipping scene-setting",
            system=(
                "You find the highlights of videos: key dramatic action and notable events."
                " Skip scene-setting, establishing shots, credits and idle moments."
            ),
            prompt="What are the key dramatic actions or notable events in this video?",
            rubric=_RUBRIC,
        ),
        Profile(
            name="sports",
            description="Goals, significant plays, fouls, cards, substitutions, crowd reactions",
            system=(
                "You are a sports analyst. Focus on goals, shots, saves, significant plays,"
                " fouls, cards, substitutions and crowd reactions; name teams and players only"
                " when they are visible."
            ),
            prompt="What are the key sports actions in this video?",
            rubric=(
                "Rate significance from 1 to 10: 1-3 play in midfield, replays of nothing,"
                " breaks; 4-5 ordinary attacks or set pieces; 6-7 a shot, a save, a foul or a"
                " card; 8-9 a big chance, a red card or a penalty; 10 a goal or a decisive"
                " moment."
            ),
            frames_per_window=8,
            audio_weight=0.3,
        ),
        Profile(
            name="summary",
            description="Character actions, scene transitions, key plot points",
            system=(
                "You summarise videos: what the people in it do, how scenes change, and the key"
                " plot points, in order."
            ),
            prompt="Summarise this video: the main actions, scene changes and key plot points.",
            rubric=(
                "Rate significance from 1 to 10 for the story: 1-3 transitions and filler;"
                " 4-5 ordinary actions; 6-7 a plot point or a new scene; 8-10 a turning point."
            ),
            frames=12,
            max_tokens=384,
            window=60.0,
            overlap=10.0,
        ),
        Profile(
            name="technical",
            description=(
                "Camera movement, lighting changes, cuts, special effects, production techniques"
            ),
            system=(
                "You are a film technician. Describe camera movement, framing, lighting"
                " changes, cuts and transitions, special effects and production techniques."
            ),
            prompt="Describe the camera work, lighting, editing and effects in this video.",
            rubric=(
                "Rate significance from 1 to 10 for technique: 1-3 a static, plainly lit shot;"
                " 4-5 ordinary cuts or pans; 6-7 a notable camera move, lighting change or"
                " transition; 8-10 a striking effect or virtuoso shot."
            ),
        ),
    )
}

_FIELDS = {f.name: f for f in fields(Profile) if f.name not in ("name", "source")}
_NUMBER_LIMITS: dict[str, choices.Range] = {
    "frames": choices.FRAMES,
    "max_tokens": choices.MAX_TOKENS,
    "window": choices.Range(1, choices.WINDOW_S.high, integer=False),
    "overlap": choices.OVERLAP_S,
    "frames_per_window": choices.FRAMES_PER_WINDOW,
    "audio_weight": choices.AUDIO_WEIGHT,
}


def default_profiles_file() -> Path:
    """Where user profiles are read from when no profiles file is named."""
    return paths.profiles_path()


def load(path: Path | None = None) -> dict[str, Profile]:
    """Built-in profiles, then ``[profiles.NAME]`` tables of the config file, then the
    profiles file (`path`, else the default one if it exists), each overriding the last.

    A profile with a known name overrides the fields it sets; a new name must set system,
    prompt and rubric (or `extends` a profile that has them).
    """
    profiles = dict(BUILTIN)
    config = paths.config_path()
    if config.is_file():
        _merge(config, read_toml(config).get("profiles", {}), profiles)
    if path is None:
        path = default_profiles_file()
        if not path.is_file():
            return profiles
    elif not path.is_file():
        raise UsageError(
            f"profiles file not found: {path}",
            hint=f"check the path given to {errors.field('profiles_file')}",
        )
    data = read_toml(path)
    unknown = [key for key in data if key != "profiles"]
    if unknown:
        raise UsageError(
            f"{path}: unknown top-level key '{unknown[0]}'",
            hint="put each profile in a [profiles.NAME] table",
        )
    _merge(path, data.get("profiles", {}), profiles)
    return profiles


def _merge(path: Path, tables: Any, profiles: dict[str, Profile]) -> None:
    """Add the file's tables to `profiles`, each after the table it extends (a profile may
    extend one defined later in the file); a chain of `extends` that comes back to where it
    started is refused."""
    if not isinstance(tables, dict):
        raise UsageError(f"{path}: 'profiles' must be a table", hint="use [profiles.NAME]")
    done: set[str] = set()

    def visit(name: str, trail: list[str]) -> None:
        if name in done:
            return
        table = tables[name]
        base = table.get("extends") if isinstance(table, dict) else None
        if name in trail or (base == name and name not in profiles):
            loop = " → ".join([*trail, name] if name in trail else [name, name])
            raise UsageError(
                f"{path}: profiles.{trail[0] if trail else name}.extends makes a loop: {loop}",
                hint="let one of them set system, prompt and rubric, or extend a built-in one",
            )
        if isinstance(base, str) and base in tables and base != name:
            visit(base, [*trail, name])
        profiles[name] = _from_table(path, name, table, profiles)
        done.add(name)

    for name in tables:
        visit(name, [])


def _from_table(path: Path, name: str, table: Any, known: dict[str, Profile]) -> Profile:
    where = f"{path}: profiles.{name}"
    if not isinstance(table, dict):
        raise UsageError(f"{where} must be a table", hint=f"write it as [profiles.{name}]")
    base_name = table.get("extends", name if name in known else None)
    if base_name is not None and base_name not in known:
        raise UsageError(
            f"{where}.extends names an unknown profile '{base_name}'",
            hint=f"known profiles: {', '.join(sorted(known))}",
        )
    values: dict[str, Any] = {}
    for key, value in table.items():
        if key == "extends":
            continue
        spec = _FIELDS.get(key)
        if spec is None:
            raise UsageError(
                f"{where}.{key} is not a profile setting",
                hint=f"settings: extends, {', '.join(_FIELDS)}",
            )
        values[key] = _check_value(f"{where}.{key}", key, value)
    if base_name is None:
        missing = [key for key in ("system", "prompt", "rubric") if key not in values]
        if missing:
            raise UsageError(
                f"{where} is missing '{missing[0]}'",
                hint="a new profile sets system, prompt and rubric, or extends another one",
            )
        values.setdefault("description", name)
        return Profile(name=name, source=str(path), **values)
    base = known[base_name]
    source = str(path) if base_name != name else f"{base.source}, overridden in {path}"
    return replace(base, name=name, source=source, **values)


def _check_value(where: str, key: str, value: Any) -> Any:
    if key in _NUMBER_LIMITS:
        hint = "fix the value in the profiles file"
        kind = "a number" if key == "audio_weight" else "a whole number"
        return check_number(where, value, _NUMBER_LIMITS[key], kind, hint)
    return check_string(where, value, "put the text in quotes")


def get(name: str, path: Path | None = None) -> Profile:
    """The profile called `name` (built-in or from the profiles file)."""
    profiles = load(path)
    if name not in profiles:
        raise UsageError(
            f"unknown profile '{name}'",
            hint=f"choose one of: {', '.join(sorted(profiles))} (see `chronicon-mlx profiles`)",
        )
    return profiles[name]


def to_dict(profile: Profile) -> dict[str, Any]:
    """The profile as plain data (for --json and the records)."""
    return {
        "name": profile.name,
        "description": profile.description,
        "system": profile.system,
        "prompt": profile.prompt,
        "rubric": profile.rubric,
        "frames": profile.frames,
        "max_tokens": profile.max_tokens,
        "window": profile.window,
        "overlap": profile.overlap,
        "frames_per_window": profile.frames_per_window,
        "audio_weight": profile.audio_weight,
        "source": profile.source,
    }
