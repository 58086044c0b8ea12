"""What every run records as it goes: stage timings and notes, both reported at once."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

from ..media.probe import VideoInfo, probe
from ..progress import NullReporter, Reporter, spell, timed


class RunLog:
    """The timings and notes of one run; each stage and note also goes to the reporter."""

    def __init__(self, reporter: Reporter | None = None) -> None:
        self.reporter: Reporter = reporter or NullReporter()
        self.started_at = datetime.now(timezone.utc)
        self.timings: dict[str, float] = {}
        self.notes: list[str] = []

    def note(self, message: str) -> None:
        """Keep a note for the record and show it (settings named as the reporter names
        them)."""
        text = spell(self.reporter, message)
        self.notes.append(text)
        self.reporter.note(text)

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        """Time a stage (added to any earlier time of the same stage)."""
        with timed(self.reporter, name, self.timings):
            yield

    def probe(self, video_path: str | Path) -> VideoInfo:
        """Probe the video as the run's "probe" stage (its notes become the run's)."""
        with self.stage("probe"):
            info = probe(Path(video_path).expanduser())
        for message in info.notes:
            self.note(message)
        return info
