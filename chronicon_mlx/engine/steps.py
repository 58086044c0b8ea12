"""Work done in slices: a generator that yields between slices and returns its result. A
slice may hand its work to whoever drives the generator (it yields a `Deferred`), so that
the driver can run it alone or together with others' work (see `Engine.step`); the
driver sends the result back in."""

from __future__ import annotations

from collections.abc import Generator
from typing import Any, Protocol, TypeVar

T = TypeVar("T")


class Deferred(Protocol):
    """Work a slice hands to its driver."""

    def run(self) -> Any:
        """Do it alone; its result."""


def run_through(steps: Generator[Any, Any, T]) -> T:
    """Run every slice of `steps`, one after another (work handed over run alone); return
    its result."""
    value: Any = None
    while True:
        try:
            handed = steps.send(value)
        except StopIteration as done:
            result: T = done.value
            return result
        value = None if handed is None else handed.run()
