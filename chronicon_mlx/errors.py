"""Expected failures: each carries a one-line message, a hint and an exit code.

Messages name the settings they are about with `field`, so that each caller sees its own
names: Python callers the keyword (``frames``, ``model='256m'``), the command line its flag
(``--frames``, ``--model 256m``; see `ChroniconError.rendered`). Any other text in a message
(paths, model answers) is kept as it is.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130

_MARK = "\x1f"
_FIELD = re.compile(f"{_MARK}([\\w-]+)(?:=([^{_MARK}]*))?{_MARK}")
_NUMBER = re.compile(r"-?[0-9.]+")


def field(name: str, value: str | None = None) -> str:
    """A setting named inside a message, with the value as typed on a command line:
    ``field("frames")``, ``field("model", "256m")``."""
    return f"{_MARK}{name}{_MARK}" if value is None else f"{_MARK}{name}={value}{_MARK}"


def render(text: str, names: Mapping[str, str] | None = None) -> str:
    """`text` with each `field` spelt with `names` (field → flag: ``--model 256m``); without
    `names`, as the Python keyword (``model='256m'``)."""

    def spell(match: re.Match[str]) -> str:
        field, value = match.group(1), match.group(2)
        if names is None:
            if value is None:
                return field
            return f"{field}={value}" if _NUMBER.fullmatch(value) else f"{field}='{value}'"
        flag = names.get(field, field)
        return flag if value is None else f"{flag} {value}"

    return _FIELD.sub(spell, text)


class ChroniconError(Exception):
    """A failure the user can act on; shown as one line plus a hint, without a traceback."""

    exit_code = EXIT_FAILURE

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(render(message))
        self.template = message
        self.hint_template = hint

    @property
    def message(self) -> str:
        """The message, naming settings as Python keywords."""
        return render(self.template)

    @property
    def hint(self) -> str | None:
        """What to do about it, naming settings as Python keywords."""
        return None if self.hint_template is None else render(self.hint_template)

    def rendered(self, names: Mapping[str, str]) -> tuple[str, str | None]:
        """(message, hint) with settings spelt by `names` (the CLI's flags)."""
        hint = None if self.hint_template is None else render(self.hint_template, names)
        return render(self.template, names), hint


class UsageError(ChroniconError):
    """The caller asked for something impossible (exit code 2)."""

    exit_code = EXIT_USAGE


class VideoError(ChroniconError):
    """The video is missing, unreadable or has no decodable frames."""


class ModelError(ChroniconError):
    """The model cannot be found, is incomplete, or is not a SmolVLM2 checkpoint."""


class BackendError(ChroniconError):
    """A backend is not installed or failed while loading or generating."""


class OutputError(ChroniconError):
    """A result cannot be written where it was asked to go."""


class ResourceError(ChroniconError):
    """The machine does not have the memory the run needs."""


EXIT_TERMINATED = 143
EXIT_CLOSED_PIPE = 141


class Terminated(KeyboardInterrupt):
    """The process was asked to stop (SIGTERM): it unwinds as Ctrl-C does, cleaning up on
    the way, and says so (exit code 143)."""
