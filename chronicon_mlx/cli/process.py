"""The command line's process: standard streams that may be closed, SIGTERM, and a reader
that goes away (a closed pipe)."""

from __future__ import annotations

import contextlib
import io
import os
import signal
import sys
from typing import Any

from ..errors import Terminated

CLOSED: set[int] = set()
"""The standard streams (0, 1, 2) that were closed when the process started."""


def guard_standard_streams() -> None:
    """Give a closed stdin, stdout or stderr the null device instead: nothing the tool opens
    later can take its number (a record file would receive the answer's text), and what is
    written to it goes nowhere. `CLOSED` says which were closed."""
    for number, name in ((0, "stdin"), (1, "stdout"), (2, "stderr")):
        try:
            os.fstat(number)
        except OSError:
            CLOSED.add(number)
            fd = os.open(os.devnull, os.O_RDONLY if number == 0 else os.O_WRONLY)
            if fd != number:
                os.dup2(fd, number)
                os.close(fd)
        if getattr(sys, name) is None:
            mode = "r" if number == 0 else "w"
            setattr(sys, name, io.TextIOWrapper(io.FileIO(number, mode, closefd=False)))


def _terminate(signum: int, frame: Any) -> None:
    raise Terminated


def stop_on_sigterm() -> None:
    """Let SIGTERM unwind the run like Ctrl-C (locks released, temporary files removed)."""
    with contextlib.suppress(ValueError):  # not the main thread
        signal.signal(signal.SIGTERM, _terminate)


def after_closed_pipe() -> None:
    """The reader of stdout went away: send what is still buffered to the null device, so
    that the flush at exit does not fail again."""
    with contextlib.suppress(OSError):
        fd = os.open(os.devnull, os.O_WRONLY)
        os.dup2(fd, sys.stdout.fileno())
        os.close(fd)
