"""The best moments for a search, in order: BM25 first, then the higher significance, then the
older moment.

The order is ranked over the full-text index alone, and the moments table is read only for
the few rows that can still reach the top: a search whose words are in most moments has
hundreds of thousands of matches, and looking each one's significance up took a third of its
time (`make bench-library`'s three-word queries on a 2-core AMD EPYC). Only a tie at the cut
(as many moments as asked for, and more with the same BM25) needs the significance of every
tied moment; the first pass fetches a margin past the cut so that a second pass is rarely
needed."""

from __future__ import annotations

import json
import math
import sqlite3

MARGIN = 64
"""How many rows past the cut the first pass fetches, to see the ties there."""

_RANKED = (
    "SELECT rowid, bm25(moments_text) AS score FROM moments_text"
    " WHERE moments_text MATCH ? ORDER BY score LIMIT ?"
)
_UP_TO = (
    "SELECT rowid, score FROM (SELECT rowid, bm25(moments_text) AS score FROM moments_text"
    " WHERE moments_text MATCH ?) WHERE score <= ?"
)
_SIGNIFICANCE = "SELECT id, significance FROM moments WHERE id IN (SELECT value FROM json_each(?))"


def best(connection: sqlite3.Connection, query: str, limit: int) -> list[tuple[int, float]]:
    """The `limit` best moments matching `query` (FTS5 syntax) as (moment id, BM25), best
    first; the same order as sorting every match by (BM25, significance descending with
    none last, id)."""
    if limit < 1:
        return []
    found = connection.execute(_RANKED, (query, limit + MARGIN)).fetchall()
    if len(found) > limit:
        cut = found[limit - 1][1]
        if found[-1][1] <= cut:  # the margin is all ties: take every moment up to the cut
            found = connection.execute(_UP_TO, (query, cut)).fetchall()
        else:
            found = [row for row in found if row[1] <= cut]
    if len(found) <= limit and len({score for _, score in found}) == len(found):
        return sorted(found, key=lambda row: row[1])
    significance = dict(
        connection.execute(_SIGNIFICANCE, (json.dumps([id_ for id_, _ in found]),)).fetchall()
    )

    def order(row: tuple[int, float]) -> tuple[float, float, int]:
        level = significance.get(row[0])
        return row[1], math.inf if level is None else -float(level), row[0]

    return sorted(found, key=order)[:limit]
