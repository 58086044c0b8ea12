"""The library: videos, the passes that described them and their moments; full-text search
over what the moments say (BM25, the significance breaking ties)."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import UsageError
from ..media.digest import file_digest
from ..paths import data_dir
from .ranking import best
from .records import Described, described
from .schema import connect, transaction

if TYPE_CHECKING:
    from ..analysis.result import AnalysisResult
    from ..highlight.result import HighlightsResult

DEFAULT_NAME = "library.db"


OPEN, CLOSE = "\x02", "\x03"
"""Where FTS5's highlight() marks a matching word (characters no description holds)."""

FEW = 1000
"""Searches for at most this many moments are ranked over the index alone (see `ranking`);
longer lists, and filtered searches, are ranked in one statement over the joined tables."""

_COLUMNS = (
    "SELECT m.id, videos.path, m.start_s, m.end_s, m.significance, m.description, m.speech,"
    f" highlight(moments_text, 0, '{OPEN}', '{CLOSE}'),"
    f" highlight(moments_text, 1, '{OPEN}', '{CLOSE}'), m.thumbnail, m.question"
)
_FROM = (
    " FROM moments_text JOIN moments AS m ON m.id = moments_text.rowid"
    " JOIN passes ON passes.id = m.pass JOIN videos ON videos.id = passes.video"
)


def parts(marked: str) -> list[tuple[str, bool]]:
    """Text marked by highlight() as (piece, matches) pairs, in order."""
    found: list[tuple[str, bool]] = []
    for chunk in marked.split(OPEN):
        inside, _, after = chunk.partition(CLOSE) if CLOSE in chunk else ("", "", chunk)
        if inside:
            found.append((inside, True))
        if after:
            found.append((after, False))
    return found


@dataclass(frozen=True)
class Hit:
    """One moment that matches a search."""

    video: str
    start_s: float
    end_s: float
    significance: int | None
    description: str
    speech: str
    marked_description: str
    marked_speech: str
    thumbnail: str | None
    question: str | None
    rank: float

    @property
    def link(self) -> str:
        """A link that plays the moment (``file://...#t=start,end``)."""
        return f"{Path(self.video).absolute().as_uri()}#t={self.start_s:.3f},{self.end_s:.3f}"

    def description_parts(self) -> list[tuple[str, bool]]:
        """The description as (text, matches) pieces."""
        return parts(self.marked_description)

    def speech_parts(self) -> list[tuple[str, bool]]:
        """What was said as (text, matches) pieces."""
        return parts(self.marked_speech)

    def to_dict(self) -> dict[str, Any]:
        """The hit as JSON data (`matches`: the matching words, as found)."""
        return {
            "video": self.video,
            "start_s": round(self.start_s, 3),
            "end_s": round(self.end_s, 3),
            "significance": self.significance,
            "description": self.description,
            "speech": self.speech,
            "question": self.question,
            "matches": [
                text for text, match in [*self.description_parts(), *self.speech_parts()] if match
            ],
            "thumbnail": self.thumbnail,
            "link": self.link,
            "bm25": round(self.rank, 4),
        }


class Library:
    """A library database (see `Library.open`)."""

    def __init__(self, connection: sqlite3.Connection, path: Path) -> None:
        self.connection = connection
        self.path = path
        self._digests: dict[tuple[str, int, int], str] = {}

    @classmethod
    def open(cls, path: str | Path | None = None) -> Library:
        """The library at `path` (default: ``library.db`` in the data folder), created on
        first use."""
        where = Path(path).expanduser() if path is not None else data_dir() / DEFAULT_NAME
        return cls(connect(where), where)

    def close(self) -> None:
        """Close the database."""
        self.connection.close()

    def __enter__(self) -> Library:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def add(
        self,
        result: HighlightsResult | AnalysisResult,
        folder: Path | None = None,
        replace: bool = False,
    ) -> int:
        """Store a highlights run's windows (or an analysis run's answers) as moments;
        returns how many were added (0 when this video was already described with the same
        settings, unless `replace` puts this pass in that one's place). `folder` is where
        the run's thumbnails were written."""
        return self.add_record(result.to_dict(), folder, replace)

    def add_record(
        self, record: dict[str, Any], folder: Path | None = None, replace: bool = False
    ) -> int:
        """`add` for a run's JSON record (read back from `folder`); a record that does not
        hold is a RecordError."""
        return self.store(described(record, folder), replace)

    def has(self, video: Path, settings: str) -> bool:
        """Whether this video's content was described with these settings."""
        found = self.connection.execute(
            "SELECT 1 FROM passes JOIN videos ON videos.id = passes.video"
            " WHERE videos.content = ? AND passes.settings = ?",
            (self.content(video), settings),
        ).fetchone()
        return found is not None

    def content(self, video: Path) -> str:
        """The video's content hash (as the video cache computes it), read once per
        process while the file is unchanged."""
        state = video.stat()
        key = (str(video.absolute()), state.st_size, state.st_mtime_ns)
        if key not in self._digests:
            self._digests[key] = file_digest(video)
        return self._digests[key]

    def store(self, run: Described, replace: bool = False, content: str | None = None) -> int:
        """Store one pass; 0 when its video already holds a pass with the same settings
        (unless `replace`). `content` is the video's hash when it is known already."""
        content = content or self.content(run.video)
        now = datetime.now(timezone.utc).isoformat(timespec="seconds")
        with transaction(self.connection) as db:
            db.execute(
                "INSERT INTO videos(path, content, duration_s, last_seen) VALUES (?, ?, ?, ?)"
                " ON CONFLICT(content) DO UPDATE SET path = excluded.path,"
                " last_seen = excluded.last_seen",
                (str(run.video.absolute()), content, run.duration_s, now),
            )
            (video_id,) = db.execute(
                "SELECT id FROM videos WHERE content = ?", (content,)
            ).fetchone()
            if replace:
                db.execute(
                    "DELETE FROM passes WHERE video = ? AND settings = ?", (video_id, run.settings)
                )
            done = db.execute(
                "SELECT 1 FROM passes WHERE video = ? AND settings = ?", (video_id, run.settings)
            ).fetchone()
            if done:
                return 0
            cursor = db.execute(
                "INSERT INTO passes(video, model, profile, settings, created, kind)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (video_id, run.model, run.profile, run.settings, now, run.kind),
            )
            db.executemany(
                "INSERT INTO moments(pass, start_s, end_s, significance, description, speech,"
                " thumbnail, question) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        cursor.lastrowid,
                        m.start_s,
                        m.end_s,
                        m.significance,
                        m.description,
                        m.speech,
                        m.thumbnail,
                        m.question,
                    )
                    for m in run.moments
                ],
            )
        return len(run.moments)

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
        try:
            if video is None and min_significance is None and limit <= FEW:
                return self._best(query, limit)
            return self._filtered(query, video, min_significance, limit)
        except sqlite3.OperationalError as exc:
            raise UsageError(
                f"the search {query!r} cannot be read ({exc})",
                hint='use plain words, a "quoted phrase", or AND / OR / NOT between words',
            ) from exc

    def _best(self, query: str, limit: int) -> list[Hit]:
        """An unfiltered search: ranked over the index alone, the few best read in full (a
        moment another process removed in between is left out)."""
        ranked = best(self.connection, query, limit)
        found = {
            row[0]: list(row[1:])
            for row in self.connection.execute(
                f"{_COLUMNS}{_FROM} WHERE moments_text MATCH ?"
                " AND moments_text.rowid IN (SELECT value FROM json_each(?))",
                (query, json.dumps([moment for moment, _ in ranked])),
            )
        }
        return [Hit(*[*found[moment], score]) for moment, score in ranked if moment in found]

    def _filtered(
        self, query: str, video: str | None, min_significance: int | None, limit: int
    ) -> list[Hit]:
        """A search within one video, above a significance, or for many moments: ranked in one
        statement."""
        sql = f"{_COLUMNS}, bm25(moments_text) AS score{_FROM} WHERE moments_text MATCH ?"
        values: list[Any] = [query]
        if video is not None:
            sql += " AND videos.path = ?"
            values.append(str(Path(video).expanduser().absolute()))
        if min_significance is not None:
            sql += " AND m.significance >= ?"
            values.append(min_significance)
        sql += " ORDER BY score, m.significance DESC, m.id LIMIT ?"
        values.append(limit)
        return [Hit(*row[1:]) for row in self.connection.execute(sql, values).fetchall()]

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
