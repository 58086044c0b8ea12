"""The library's database: opened in WAL mode, its schema created and migrated forward by
version; a database from a newer version, or a damaged file, is refused, never rewritten."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ..errors import OutputError

VERSION = 2
"""The schema this version writes (SQLite's `user_version`)."""

MIGRATIONS: dict[int, str] = {
    1: """
    CREATE TABLE videos (
        id INTEGER PRIMARY KEY,
        path TEXT NOT NULL,
        content TEXT NOT NULL UNIQUE,
        duration_s REAL NOT NULL,
        last_seen TEXT NOT NULL
    );
    CREATE TABLE passes (
        id INTEGER PRIMARY KEY,
        video INTEGER NOT NULL REFERENCES videos(id) ON DELETE CASCADE,
        model TEXT NOT NULL,
        profile TEXT NOT NULL,
        settings TEXT NOT NULL,
        created TEXT NOT NULL,
        UNIQUE (video, settings)
    );
    CREATE TABLE moments (
        id INTEGER PRIMARY KEY,
        pass INTEGER NOT NULL REFERENCES passes(id) ON DELETE CASCADE,
        start_s REAL NOT NULL,
        end_s REAL NOT NULL,
        significance INTEGER,
        description TEXT NOT NULL,
        speech TEXT NOT NULL DEFAULT '',
        thumbnail TEXT
    );
    CREATE INDEX moments_pass ON moments(pass);
    CREATE VIRTUAL TABLE moments_text USING fts5(
        description, speech, content='moments', content_rowid='id'
    );
    CREATE TRIGGER moments_added AFTER INSERT ON moments BEGIN
        INSERT INTO moments_text(rowid, description, speech)
        VALUES (new.id, new.description, new.speech);
    END;
    CREATE TRIGGER moments_removed AFTER DELETE ON moments BEGIN
        INSERT INTO moments_text(moments_text, rowid, description, speech)
        VALUES ('delete', old.id, old.description, old.speech);
    END;
    """,
    2: """
    ALTER TABLE passes ADD COLUMN kind TEXT NOT NULL DEFAULT 'highlights';
    ALTER TABLE moments ADD COLUMN question TEXT;
    CREATE INDEX passes_video ON passes(video);
    """,
}
"""Each version's statements, applied in order from the database's version up to VERSION."""


def connect(path: Path) -> sqlite3.Connection:
    """The library at `path`, created or migrated to VERSION. A database a newer version
    wrote, or a file that is not one, is an OutputError (the file is left as it is)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        connection = sqlite3.connect(str(path), timeout=30.0, isolation_level=None)
        connection.execute("PRAGMA foreign_keys = ON")
        connection.execute("PRAGMA journal_mode = WAL")
        version = int(connection.execute("PRAGMA user_version").fetchone()[0])
    except sqlite3.DatabaseError as exc:
        raise OutputError(
            f"{path} is not a usable library database ({exc})",
            hint="move the file aside (it is left as it is) or pass another --library",
        ) from exc
    if version > VERSION:
        connection.close()
        raise OutputError(
            f"{path} was written by a newer version of chronicon-mlx (schema {version}, this"
            f" version reads up to {VERSION})",
            hint="upgrade chronicon-mlx, or pass another --library",
        )
    for step in range(version + 1, VERSION + 1):
        script = f"BEGIN IMMEDIATE;{MIGRATIONS[step]}PRAGMA user_version = {step};COMMIT;"
        try:
            connection.executescript(script)
        except sqlite3.Error:
            if connection.in_transaction:
                connection.execute("ROLLBACK")
            if int(connection.execute("PRAGMA user_version").fetchone()[0]) < step:
                raise
    return connection


@contextmanager
def transaction(connection: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """BEGIN IMMEDIATE ... COMMIT (ROLLBACK on an error): one writer at a time, the others
    wait for it (up to the connection's timeout)."""
    connection.execute("BEGIN IMMEDIATE")
    try:
        yield connection
    except BaseException:
        connection.execute("ROLLBACK")
        raise
    connection.execute("COMMIT")
