"""Time frame sampling: the chosen method against always-seek, always-grab and keyframe mode.

Videos are 720p H.264 with a keyframe every 250 frames (like cameras), written once with
PyAV into the cache; every frame carries its index, so each exact-mode frame is checked.
Cases: 8 and 16 frames from each video, and all 30 s windows with 5 s overlap (6 frames
each) of the long ones. Prints medians and ratios; writes JSON beside the videos.
"""

from __future__ import annotations

import argparse
import functools
import json
import statistics
import time
from collections.abc import Callable
from pathlib import Path

from chronicon_mlx import video
from chronicon_mlx.checkpoints import cache_root
from chronicon_mlx.testing import read_frame_code, write_av_video

BITS = 20
FPS = 30
SIZE = (1280, 720)


def make_video(minutes: float) -> Path:
    """The cached test video of that length (written on first use)."""
    folder = cache_root() / "bench-frames"
    path = folder / f"h264_720p30_gop250_{minutes:g}min.mp4"
    if not path.is_file():
        tmp = path.with_suffix(".tmp.mp4")
        frames = round(minutes * 60 * FPS)
        write_av_video(tmp, size=SIZE, fps=FPS, frames=frames, gop=250, bits=BITS,
                       preset="ultrafast")  # fmt: skip
        tmp.replace(path)
    return path


def windows(info: video.VideoInfo, size_s: float = 30, overlap_s: float = 5) -> list[list[int]]:
    """Every window of `size_s` seconds, `overlap_s` apart from the next, 6 frames each."""
    out, start, step = [], 0.0, size_s - overlap_s
    while start < info.duration_s:
        first, stop = video.frame_range(info, start, min(start + size_s, info.duration_s))
        out.append(video.plan_range(first, stop, 6))
        start += step
    return out


def timed(task: Callable[[], list[video.Frame]], repeats: int) -> tuple[float, list[video.Frame]]:
    """Median seconds over `repeats` runs after one untimed warm-up, and the frames."""
    frames = task()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        frames = task()
        times.append(time.perf_counter() - start)
    return statistics.median(times), frames


def _line(row: dict[str, object]) -> str:
    names = ("chosen", "always-seek", "always-grab", "keyframe")
    seconds = {name: float(str(row[name])) for name in names}
    best = min(seconds["always-seek"], seconds["always-grab"])
    return (
        f"{row['video']:36} {row['case']:28} chosen {seconds['chosen']:7.2f} s"
        f" | seek {seconds['always-seek']:7.2f} | grab {seconds['always-grab']:7.2f}"
        f" | keyframe {seconds['keyframe']:6.2f} | chosen/best {seconds['chosen'] / best:4.2f}"
        f" | seek/chosen {seconds['always-seek'] / seconds['chosen']:4.1f}"
        f" | chosen/keyframe {seconds['chosen'] / seconds['keyframe']:5.1f}"
        f" | exact {row['chosen_decoded_right']}/{row['frames']}"
        f" | keyframe on target {row['keyframe_on_target']}/{row['frames']}"
    )


def main() -> None:
    """Run every case and print the table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--minutes", type=float, nargs="+", default=[10 / 60, 10, 60])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    methods: dict[str, Callable[[video.VideoInfo, list[int]], list[video.Frame]]] = {
        "chosen": lambda info, idx: list(video.iter_frames(info, idx)),
        "always-seek": lambda info, idx: list(video.iter_frames(info, idx, max_gap=-1)),
        "always-grab": lambda info, idx: list(video.iter_frames(info, idx, max_gap=10**9)),
        "keyframe": lambda info, idx: video.sample(info, idx, seek="keyframe"),
    }
    rows = []
    for minutes in args.minutes:
        path = make_video(minutes)
        info = video.probe(path)
        cases: list[tuple[str, list[int]]] = [
            (f"{n} frames", video.plan_range(0, info.frame_count, n)) for n in (8, 16)
        ]
        if minutes >= 10:
            all_windows = windows(info)
            union = sorted({i for w in all_windows for i in w})
            cases.append((f"{len(all_windows)} windows ({len(union)} frames)", union))
        for label, indices in cases:
            row: dict[str, object] = {"video": path.name, "case": label, "frames": len(indices)}
            wanted = set(indices)
            for name, method in methods.items():
                idx = indices
                if name == "keyframe":
                    idx = video.plan(info, 0, info.frame_count, len(indices), "keyframe")
                seconds, frames = timed(functools.partial(method, info, idx), args.repeats)
                row[name] = seconds
                row[f"{name}_decoded_right"] = sum(
                    read_frame_code(f.image, BITS) == f.index for f in frames
                )
                row[f"{name}_on_target"] = sum(f.index in wanted for f in frames)
            rows.append(row)
            print(_line(row), flush=True)
    out = cache_root() / "bench-frames" / "results.json"
    out.write_text(json.dumps(rows, indent=2))
    print(f"saved {out}")


if __name__ == "__main__":
    main()
