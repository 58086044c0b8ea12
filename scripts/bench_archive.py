"""An archive on local Ray against the sequential path, side by side in one run.

12 short videos (10 good, each its own content; 2 bad), the tiny checkpoint, 4 frames and
1500 tokens per answer (end of sequence ignored by the random weights). Each run is one
`chronicon-mlx analyze FOLDER` process timed from start to exit: sequential (one model
load), `--ray --workers 1`, `--ray --workers 2`, then the same --ray command again (every
video done: nothing runs). Each run has its own video cache, so none reads another's.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from chronicon_mlx.media.synthetic import write_sample_video
from chronicon_mlx.model.random_weights import cached_checkpoint

FLAGS = ["--frames", "4", "--max-tokens", "1500"]


def _archive(root: Path) -> Path:
    folder = root / "videos"
    folder.mkdir()
    for n in range(10):
        size = (96 + 8 * n, 64)
        write_sample_video(folder / f"clip{n:02d}.mp4", seconds=1 + n % 3, fps=10, size=size)
    (folder / "bad-text.mp4").write_text("not a video\n")
    (folder / "bad-empty.mp4").write_bytes(b"")
    return folder


def _run(root: Path, name: str, *args: str) -> dict[str, Any]:
    env = {**os.environ, "CHRONICON_VIDEO_CACHE": str(root / f"{name}-cache")}
    command = [sys.executable, "-m", "chronicon_mlx", "analyze", *args]
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, env=env, cwd=root)
    seconds = time.perf_counter() - start
    return {"name": name, "seconds": seconds, "exit": done.returncode}


def _records(folder: Path) -> dict[str, Any]:
    drop = {"timestamp", "timing", "peak_memory_gb", "tokens"}
    found = {}
    for path in folder.glob("*.json"):
        record = json.loads(path.read_text())
        found[record["video_path"]] = {k: v for k, v in record.items() if k not in drop}
    return found


def main() -> None:
    """Run the four processes and print their times and ratios."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--output", type=Path, default=Path("results/bench_archive.json"))
    args = parser.parse_args()
    model = str(cached_checkpoint("tiny"))
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        videos = _archive(root)
        common = [str(videos), "--model", model, *FLAGS]
        runs = [
            _run(root, "sequential", *common, "-o", str(root / "sequential")),
            _run(root, "ray-1", *common, "--ray", "--workers", "1", "-o", str(root / "ray-1")),
            _run(root, "ray-2", *common, "--ray", "--workers", "2", "-o", str(root / "ray-2")),
            _run(root, "ray-2", *common, "--ray", "--workers", "2", "-o", str(root / "ray-2")),
        ]
        runs[3]["name"] = "rerun"
        same = _records(root / "sequential") == _records(root / "ray-2")
        lines = (root / "ray-2" / "manifest.jsonl").read_text().splitlines()
    by = {run["name"]: run for run in runs}
    report = {
        "runs": runs,
        "sequential_over_ray_2": by["sequential"]["seconds"] / by["ray-2"]["seconds"],
        "ray_1_over_ray_2": by["ray-1"]["seconds"] / by["ray-2"]["seconds"],
        "same_records": same,
        "manifest_lines_after_rerun": len(lines),
        "cpus": os.cpu_count(),
    }
    for run in runs:
        print(f"{run['name']:>10}: {run['seconds']:6.2f} s (exit {run['exit']})")
    print(
        f"sequential / ray 2 workers: {report['sequential_over_ray_2']:.2f}x;"
        f" ray 1 worker / ray 2 workers: {report['ray_1_over_ray_2']:.2f}x;"
        f" records the same as sequential: {same}; manifest lines after the rerun:"
        f" {len(lines)}"
    )
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2) + "\n")
    print(f"saved {args.output}")


if __name__ == "__main__":
    main()
