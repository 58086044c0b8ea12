"""An answer's text as it streams: pieces in, deltas out. The deltas add up to the answer a
non-streamed request gets: leading and trailing whitespace left out (answers are stripped),
the text cut before the first stop string, and text that could still turn into a stop
string held back until it cannot."""

from __future__ import annotations

from collections.abc import Sequence


class TextStream:
    """One answer's text."""

    def __init__(self, stops: Sequence[str] = ()) -> None:
        self.stops = [stop for stop in stops if stop]
        self.text = ""
        self.sent = 0
        self.stopped = False

    def add(self, piece: str) -> str:
        """Take the next piece of the answer; return the text that can be sent now."""
        if self.stopped:
            return ""
        self.text += piece
        if not self.sent:
            self.text = self.text.lstrip()
        cut = self._first_stop()
        if cut is not None:
            self.text = self.text[:cut].rstrip()
            self.stopped = True
            return self._send(len(self.text))
        safe = len(self.text.rstrip())
        safe = min(safe, len(self.text) - self._held())
        return self._send(safe)

    def finish(self, final: str | None = None) -> str:
        """The text left to send at the end (`final`: the whole answer, when the stream
        did not stop on a stop string)."""
        if not self.stopped and final is not None:
            self.text = final
        end = len(self.text.rstrip())
        return self._send(end)

    @property
    def answer(self) -> str:
        """The answer as far as it goes (stripped, cut at a stop string)."""
        return self.text.strip()

    def _send(self, end: int) -> str:
        if end <= self.sent:
            return ""
        delta = self.text[self.sent : end]
        self.sent = end
        return delta

    def _first_stop(self) -> int | None:
        found = [self.text.find(stop) for stop in self.stops]
        hits = [at for at in found if at >= 0]
        return min(hits) if hits else None

    def _held(self) -> int:
        """Characters at the end that begin some stop string."""
        longest = 0
        for stop in self.stops:
            for size in range(min(len(stop) - 1, len(self.text)), longest, -1):
                if self.text.endswith(stop[:size]):
                    longest = size
                    break
        return longest
