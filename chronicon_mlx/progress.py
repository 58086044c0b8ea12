"""Progress reporting without printing: the core calls a Reporter, the CLI renders it; the
libraries the core runs on are kept from writing to the terminal themselves."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Protocol

from .errors import render


class Reporter(Protocol):
    """Receives progress from the core. Every method must be cheap and must not raise.

    A reporter may have a ``field_names`` mapping (setting → how its user names it, such as
    ``{"frames": "--frames"}``); notes then name settings that way.
    """

    def stage_started(self, stage: str, total: int | None = None) -> None:
        """A stage began; `total` is its step count when known (frames, tokens)."""

    def stage_advanced(self, stage: str, advance: int = 1, text: str | None = None) -> None:
        """A stage made progress; `text` is new output (streamed tokens) if any."""

    def stage_finished(self, stage: str, seconds: float) -> None:
        """A stage ended after `seconds`."""

    def note(self, message: str) -> None:
        """Something the user should see (a fallback, fewer frames than asked)."""


class NullReporter:
    """A reporter that ignores everything (the default for the Python API)."""

    def stage_started(self, stage: str, total: int | None = None) -> None:
        """Ignore."""

    def stage_advanced(self, stage: str, advance: int = 1, text: str | None = None) -> None:
        """Ignore."""

    def stage_finished(self, stage: str, seconds: float) -> None:
        """Ignore."""

    def note(self, message: str) -> None:
        """Ignore."""


@contextmanager
def timed(reporter: Reporter, stage: str, timings: dict[str, float]) -> Iterator[None]:
    """Time a stage, report its start and end, and store its duration in `timings`."""
    reporter.stage_started(stage)
    start = time.perf_counter()
    try:
        yield
    finally:
        seconds = time.perf_counter() - start
        timings[stage] = timings.get(stage, 0.0) + seconds
        reporter.stage_finished(stage, seconds)


def spell(reporter: Reporter, message: str) -> str:
    """`message` with its settings named the way `reporter`'s user names them."""
    names: Mapping[str, str] | None = getattr(reporter, "field_names", None)
    return render(message, names)


def quiet_libraries() -> None:
    """Keep the libraries' own log lines and loading bars out of the user's terminal (errors
    still surface as exceptions; a model download still shows its progress). Set before
    transformers is imported, its settings also silence what it logs at import."""
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    if "transformers" in sys.modules:
        from transformers.utils import logging as hf_logging

        hf_logging.set_verbosity_error()
        hf_logging.disable_progress_bar()
