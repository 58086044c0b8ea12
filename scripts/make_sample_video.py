"""Write a short synthetic clip (a ball crossing a scene) for the demo and the tests."""

from __future__ import annotations

import argparse
from pathlib import Path

from chronicon_mlx.media.synthetic import write_sample_video


def main() -> None:
    """Parse arguments and write the clip."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("output", type=Path)
    parser.add_argument("--seconds", type=float, default=6.0)
    parser.add_argument("--fps", type=float, default=30.0)
    parser.add_argument("--size", default="640x360", help="WIDTHxHEIGHT")
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.lower().split("x"))
    path = write_sample_video(args.output, seconds=args.seconds, fps=args.fps, size=(width, height))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
