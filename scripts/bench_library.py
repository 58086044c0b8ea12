"""The library at scale: a synthetic library of 10,000 videos x 120 moments (generated text
from a Zipf-distributed vocabulary), filled through `Library.store`, then searched.

    python scripts/bench_library.py [--videos 10000] [--moments 120] [--queries 300]

1. Insert: the time to store each 120-moment video (one transaction each, into the growing
   database), median and p95 over all of them, and over the last 1,000 (the largest table).
2. Search: `Library.search` (FTS5 BM25, significance second, limit 20) for one-word
   queries (a word drawn uniformly from the vocabulary) and three-word queries (three words
   of one stored description, so that each matches), p50/p95/max; and the single most
   common word (the slowest query there is: it is in nearly every moment).
3. Size: the database file (after a WAL checkpoint) per moment.

Writes results/bench-library.json.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from chronicon_mlx.library.records import Described, Moment
from chronicon_mlx.library.store import Library

VOCABULARY = 6000
SEED = 7


def words(rng: random.Random) -> list[str]:
    """A vocabulary of pronounceable made-up words."""
    consonants, vowels = "bcdfghjklmnprstvwz", "aeiou"
    made: set[str] = set()
    while len(made) < VOCABULARY:
        size = rng.randint(2, 4)
        made.add("".join(rng.choice(consonants) + rng.choice(vowels) for _ in range(size)))
    return sorted(made)


def sentence(rng: random.Random, vocabulary: list[str], weights: list[float], size: int) -> str:
    return " ".join(rng.choices(vocabulary, weights, k=size)).capitalize() + "."


def fill(
    library: Library, args: argparse.Namespace, vocabulary: list[str]
) -> tuple[list[float], list[str]]:
    """Store every video; returns each one's time and one description per video."""
    rng = random.Random(SEED)
    weights = [1.0 / (rank + 1) for rank in range(len(vocabulary))]
    took = []
    said = []
    for number in range(args.videos):
        moments = [
            Moment(
                start_s=10.0 * k,
                end_s=10.0 * k + 12.0,
                significance=rng.randint(1, 10),
                description=sentence(rng, vocabulary, weights, rng.randint(12, 30)),
                speech=sentence(rng, vocabulary, weights, 15) if rng.random() < 0.5 else "",
                thumbnail=f"/library-runs/{number:05d}/thumbs/window-{k:04d}.jpg",
            )
            for k in range(args.moments)
        ]
        run = Described(
            Path(f"/videos/match-{number:05d}.mp4"),
            10.0 * args.moments + 2.0,
            "smolvlm2-500m",
            "sports",
            "highlights",
            json.dumps({"window_s": 12.0}),
            moments,
        )
        start = time.perf_counter()
        library.store(run, content=f"{number:064x}")
        took.append(time.perf_counter() - start)
        said.append(moments[number % args.moments].description)
    return took, said


def percentiles(seconds: list[float]) -> dict[str, float]:
    ordered = sorted(seconds)
    return {
        "p50_ms": round(1000 * statistics.median(ordered), 2),
        "p95_ms": round(1000 * ordered[int(0.95 * (len(ordered) - 1))], 2),
        "max_ms": round(1000 * ordered[-1], 2),
    }


def timed(library: Library, queries: list[str]) -> list[float]:
    took = []
    for query in queries:
        start = time.perf_counter()
        library.search(query, limit=20)
        took.append(time.perf_counter() - start)
    return took


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--videos", type=int, default=10_000)
    parser.add_argument("--moments", type=int, default=120)
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument(
        "--keep", type=Path, help="build the library at this path and keep it (a new file)"
    )
    args = parser.parse_args()
    rng = random.Random(SEED + 1)
    vocabulary = words(random.Random(SEED))
    with tempfile.TemporaryDirectory() as folder:
        path = args.keep or Path(folder) / "library.db"
        if path.exists():
            parser.error(f"{path} exists: --keep builds a new library")
        library = Library.open(path)
        started = time.perf_counter()
        inserts, said = fill(library, args, vocabulary)
        build_s = time.perf_counter() - started
        one = [rng.choice(vocabulary) for _ in range(args.queries)]
        three = [
            " ".join(rng.sample(rng.choice(said).rstrip(".").lower().split(), 3))
            for _ in range(args.queries)
        ]
        timed(library, one[:20])  # the pages the queries read are in memory after this
        searches = {"one_word": timed(library, one), "three_words": timed(library, three)}
        common = timed(library, [vocabulary[0]] * 20)
        library.connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        size = path.stat().st_size
        rows = args.videos * args.moments
        (matches,) = library.connection.execute(
            "SELECT count(*) FROM moments_text WHERE moments_text MATCH ?", (vocabulary[0],)
        ).fetchone()
        library.close()
    result: dict[str, Any] = {
        "videos": args.videos,
        "moments": rows,
        "build_s": round(build_s, 1),
        "insert_per_video": percentiles(inserts),
        "insert_per_video_last_1000": percentiles(inserts[-1000:]),
        "search": {name: percentiles(took) for name, took in searches.items()},
        "search_most_common_word": {**percentiles(common), "matching_moments": matches},
        "database_mb": round(size / 1e6, 1),
        "bytes_per_moment": round(size / rows),
    }
    out = Path("results") / "bench-library.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
