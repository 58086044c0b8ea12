"""Reading TOML files and checking their values, with errors that name the file and key."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from ..errors import UsageError
from .choices import Range

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


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
    except RecursionError as exc:
        raise UsageError(
            f"{path} nests its tables or arrays too deeply to read",
            hint="settings and profiles are one or two levels deep; fix the file",
        ) from exc


def check_number(where: str, value: Any, allowed: Range, noun: str, hint: str) -> float:
    """`value` when it is a number (a whole one for integer ranges) inside `allowed`.

    `noun` is how the message calls a whole number ("an integer", "a whole number").
    """
    ok_type = isinstance(value, int) if allowed.integer else isinstance(value, (int, float))
    if isinstance(value, bool) or not ok_type or not allowed.contains(value):
        kind = noun if allowed.integer else "a number"
        raise UsageError(
            f"{where} must be {kind} from {allowed.low:g} to {allowed.high:g} (got {value!r})",
            hint=hint,
        )
    return int(value) if allowed.integer else float(value)


def check_string(where: str, value: Any, hint: str) -> str:
    """`value` stripped, when it is a non-empty string."""
    if not isinstance(value, str) or not value.strip():
        raise UsageError(f"{where} must be a non-empty string (got {value!r})", hint=hint)
    return value.strip()
