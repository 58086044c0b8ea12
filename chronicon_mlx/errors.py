"""Expected failures: each carries a one-line message, a hint and an exit code."""

from __future__ import annotations

EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


class ChroniconError(Exception):
    """A failure the user can act on; shown as one line plus a hint, without a traceback."""

    exit_code = EXIT_FAILURE

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


class UsageError(ChroniconError):
    """The command line asked for something impossible (exit code 2)."""

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
