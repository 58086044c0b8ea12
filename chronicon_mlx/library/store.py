"""The library: videos, the passes that described them and their moments; full-text search
over what the moments say (BM25, the significance breaking ties)."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ..errors import UsageError
from ..highlight.result import HighlightsResult
from ..media.digest import file_digest
from ..paths import data_dir
from .schema import connect, transaction

DEFAULT_NAME = "library.db"


@dataclass(frozen=True)
class Hit:
    """One moment that matches a search."""

    video: str
    start_s: float
    end_s: float
    significance: int | None
    description: str
    speech: str
    marked: str
    """The description with the matching words between [ and ]."""
    thumbnail: str | None
    rank: float

    @property
    def link(self) -> str:
        """A link that plays the moment (``file://...#t=start,end``)."""
        return f"{Path(self.video).absolute().as_uri()}#t={self.start_s:.3f},{self.end_s:.3f}"

    def to_dict(self) -> dict[str, Any]:
        """The hit as JSON data."""
        return {
            "video": self.video,
            "start_s": round(self.start_s, 3),
            "end_s": round(self.end_s, 3),
            "significance": self.significance,
            "description": self.description,
            "speech": self.speech,
            "thumbnail": self.thumbnail,
            "link": self.link,
            "bm25": round(self.rank, 4),
        }


class Library:
    """A library database (see `Library.open`)."""

    def __init__(self, connection: sqlite3.Connection, path: Path) -> None:
        self.connection = connection
        self.path = path

    @classmethod
    def open(cls, path: str | Path | None = None) -> Library:
        """The library at `path` (default: ``library.db`` in the data folder), created on
        first use."""
        where = Path(path).expanduser() if path is not None else data_dir() / DEFAULT_NAME
        return cls(connect(where), where)

    def close(self) -> None:
        """Close the database."""
        self.connection.close()

    def add(self, result: HighlightsResult) -> int:
        """Store a highlights run's windows as moments; returns how many were added (0 when
        this video was already described with the same settings)."""
        video = result.source
        content = file_digest(video.path)
        settings = json.dumps(
            {k: v for k, v in result.parameters.items() if k != "video"}, sort_keys=True
        )
        now = datetime.now(timezone.utc).isoformat(timespec="seconds")
        speech = _speech_by_window(result)
        with transaction(self.connection) as db:
            db.execute(
                "INSERT INTO videos(path, content, duration_s, last_seen) VALUES (?, ?, ?, ?)"
                " ON CONFLICT(content) DO UPDATE SET path = excluded.path,"
                " last_seen = excluded.last_seen",
                (str(video.path), content, video.duration_s, now),
            )
            (video_id,) = db.execute(
                "SELECT id FROM videos WHERE content = ?", (content,)
            ).fetchone()
            done = db.execute(
                "SELECT 1 FROM passes WHERE video = ? AND settings = ?", (video_id, settings)
            ).fetchone()
            if done:
                return 0
            cursor = db.execute(
                "INSERT INTO passes(video, model, profile, settings, created)"
                " VALUES (?, ?, ?, ?, ?)",
                (video_id, result.model.name, result.profile.name, settings, now),
            )
            rows = [
                (
                    cursor.lastrowid,
                    w.start_s,
                    w.end_s,
                    w.significance,
                    w.description or "",
                    speech.get(w.number, ""),
                    w.thumbnail,
                )
                for w in result.windows
                if w.description is not None
            ]
            db.executemany(
                "INSERT INTO moments(pass, start_s, end_s, significance, description, speech,"
                " thumbnail) VALUES (?, ?, ?, ?, ?, ?, ?)",
                rows,
            )
        return len(rows)

    def search(
        self,
        query: str,
        video: str | None = None,
        min_significance: int | None = None,
        limit: int = 20,
    ) -> list[Hit]:
        """Moments whose description or speech match `query` (FTS5 syntax: words, "quoted
        phrases", AND/OR/NOT), best first: BM25, then the higher significance."""
        if not query.strip():
            raise UsageError("the search is empty", hint='give words, or a "quoted phrase"')
        sql = (
            "SELECT videos.path, m.start_s, m.end_s, m.significance, m.description, m.speech,"
            " highlight(moments_text, 0, '[', ']'), m.thumbnail, bm25(moments_text)"
            " FROM moments_text JOIN moments AS m ON m.id = moments_text.rowid"
            " JOIN passes ON passes.id = m.pass JOIN videos ON videos.id = passes.video"
            " WHERE moments_text MATCH ?"
        )
        values: list[Any] = [query]
        if video is not None:
            sql += " AND videos.path = ?"
            values.append(str(Path(video).expanduser()))
        if min_significance is not None:
            sql += " AND m.significance >= ?"
            values.append(min_significance)
        sql += " ORDER BY bm25(moments_text), m.significance DESC LIMIT ?"
        values.append(limit)
        try:
            found = self.connection.execute(sql, values).fetchall()
        except sqlite3.OperationalError as exc:
            raise UsageError(
                f"the search {query!r} cannot be read ({exc})",
                hint='use plain words, a "quoted phrase", or AND / OR / NOT between words',
            ) from exc
        return [Hit(*row) for row in found]

    def videos(self) -> list[tuple[str, float, int]]:
        """Each video: (path, duration, moments), by path."""
        return [
            (str(path), float(duration), int(count))
            for path, duration, count in self.connection.execute(
                "SELECT videos.path, videos.duration_s, count(moments.id) FROM videos"
                " LEFT JOIN passes ON passes.video = videos.id"
                " LEFT JOIN moments ON moments.pass = passes.id"
                " GROUP BY videos.id ORDER BY videos.path"
            )
        ]

    def prune(self) -> list[str]:
        """Forget the videos whose files are gone; returns their paths."""
        gone = [path for path, _, _ in self.videos() if not Path(path).is_file()]
        with transaction(self.connection) as db:
            for path in gone:
                db.execute("DELETE FROM videos WHERE path = ?", (path,))
        return gone


def _speech_by_window(result: HighlightsResult) -> dict[int, str]:
    """The words said during each window (empty without a transcript)."""
    if result.audio is None:
        return {}
    return {
        w.number: " ".join(
            s.text for s in result.audio.segments if s.end_s > w.start_s and s.start_s < w.end_s
        )
        for w in result.windows
    }
