"""Build a random-weight SmolVLM2 checkpoint offline (tiny for tests, real sizes for benches)."""

from __future__ import annotations

import argparse
from pathlib import Path

from chronicon_mlx.model.random_weights import build_checkpoint, cached_checkpoint


def main() -> None:
    """Parse arguments and build (or find in the cache) the checkpoint."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size", default="tiny", choices=["tiny", "256m", "500m", "2.2b"])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", type=Path, help="folder to write (default: the cache)")
    args = parser.parse_args()
    if args.output:
        path = build_checkpoint(args.output, size=args.size, seed=args.seed)
    else:
        path = cached_checkpoint(args.size, seed=args.seed)
    print(path)


if __name__ == "__main__":
    main()
