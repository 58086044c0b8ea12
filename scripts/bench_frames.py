"""Time frame sampling: the chosen method against always-seek, always-grab and keyframe mode.

Videos are 720p H.264 with a keyframe every 250 frames (like cameras), written once with
PyAV into the cache; every frame carries its index, so each exact-mode frame is checked.
Cases: 8 and 16 frames from each video, and all 30 s windows with 5 s overlap (6 frames
each) of the long ones. The methods of a case run in turn, round after round. Prints
median times and their ratios (the JSON beside the videos also keeps the best times).
"""

from __future__ import annotations

import argparse
import functools
import json
import statistics
import time
from collections.abc import Callable
from pathlib import Path

from chronicon_mlx.media import decode, plan
from chronicon_mlx.media.probe import VideoInfo, probe
from chronicon_mlx.media.synthetic import read_frame_code, write_av_video
from chronicon_mlx.paths import cache_root

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
        write_av_video(
            tmp, size=SIZE, fps=FPS, frames=frames, gop=250, bits=BITS, preset="ultrafast"
        )
        tmp.replace(path)
    return path


def windows(info: VideoInfo, size_s: float = 30, overlap_s: float = 5) -> list[list[int]]:
    """Every window of `size_s` seconds, `overlap_s` apart from the next, 6 frames each."""
    out, start, step = [], 0.0, size_s - overlap_s
    while start < info.duration_s:
        first, stop = plan.frame_range(info, start, min(start + size_s, info.duration_s))
        out.append(plan.plan_range(first, stop, 6))
        start += step
    return out


def timed(task: Callable[[], list[decode.Frame]], repeats: int) -> tuple[float, list[decode.Frame]]:
    """Median seconds over `repeats` runs (after one untimed warm-up), and the frames."""
    frames = task()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        frames = task()
        times.append(time.perf_counter() - start)
    return statistics.median(times), frames


def interleaved(
    tasks: dict[str, Callable[[], list[decode.Frame]]], repeats: int, warm_up: bool
) -> tuple[dict[str, float], dict[str, float], dict[str, list[decode.Frame]]]:
    """Each task's median and best time over `repeats` rounds that run every task in turn
    (so a busy moment of the machine hits them alike), and each task's frames."""
    frames = {name: task() for name, task in tasks.items()} if warm_up else {}
    times: dict[str, list[float]] = {name: [] for name in tasks}
    for _ in range(repeats):
        for name, task in tasks.items():
            start = time.perf_counter()
            frames[name] = task()
            times[name].append(time.perf_counter() - start)
    medians = {name: statistics.median(t) for name, t in times.items()}
    return medians, {name: min(t) for name, t in times.items()}, frames


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
        f" | keyframe max error {row['keyframe_max_error_s']:.1f} s"
    )


def warm_page_cache(path: Path) -> None:
    """Read the file once so that every method starts with it in memory."""
    with path.open("rb") as handle:
        while handle.read(1 << 24):
            pass


def _read(info: VideoInfo, indices: list[int], max_gap: int) -> list[decode.Frame]:
    return list(decode.iter_frames(info, indices, max_gap=max_gap))


def crossover(info: VideoInfo, gaps: list[int], count: int = 12) -> list[dict[str, float]]:
    """Seconds per wanted frame by seeking and by grabbing forward, for frames `gap` apart."""
    rows = []
    for gap in gaps:
        indices = [37 + gap * (i + 1) for i in range(count)]
        seek, _ = timed(functools.partial(_read, info, indices, -1), 3)
        grab, _ = timed(functools.partial(_read, info, indices, 10**9), 3)
        rows.append(
            {"gap": gap, "seek_s_per_frame": seek / count, "grab_s_per_frame": grab / count}
        )
        print(
            f"gap {gap:5d} frames: seek {seek / count * 1000:7.1f} ms/frame"
            f" | grab {grab / count * 1000:7.1f} ms/frame | grab/seek {grab / seek:5.2f}",
            flush=True,
        )
    return rows


def main() -> None:
    """Run every case and print the table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--minutes", type=float, nargs="+", default=[10 / 60, 10, 60])
    parser.add_argument("--repeats", type=int, default=3, help="timed runs of short videos")
    parser.add_argument(
        "--long-repeats", type=int, default=3, help="timed runs of videos of 10 minutes or more"
    )
    parser.add_argument(
        "--gaps",
        type=int,
        nargs="*",
        default=[15, 30, 60, 90, 120, 160, 250, 500],
        help="frame gaps for the seek/grab crossover (measured on the first long video)",
    )
    args = parser.parse_args()
    methods: dict[str, Callable[[VideoInfo, list[int]], list[decode.Frame]]] = {
        "chosen": lambda info, idx: list(decode.iter_frames(info, idx)),
        "always-seek": lambda info, idx: list(decode.iter_frames(info, idx, max_gap=-1)),
        "always-grab": lambda info, idx: list(decode.iter_frames(info, idx, max_gap=10**9)),
        "keyframe": lambda info, idx: decode.sample(info, idx, seek="keyframe"),
    }
    rows = []
    gaps: list[dict[str, float]] = []
    for minutes in args.minutes:
        path = make_video(minutes)
        warm_page_cache(path)
        info = probe(path)
        long = minutes >= 10
        repeats = args.long_repeats if long else args.repeats
        if long and args.gaps and not gaps:
            gaps = crossover(info, args.gaps)
        cases: list[tuple[str, list[int]]] = [
            (f"{n} frames", plan.plan_range(0, info.frame_count, n)) for n in (8, 16)
        ]
        if long:
            all_windows = windows(info)
            union = sorted({i for w in all_windows for i in w})
            cases.append((f"{len(all_windows)} windows ({len(union)} frames)", union))
        for label, indices in cases:
            row: dict[str, object] = {"video": path.name, "case": label, "frames": len(indices)}
            tasks = {name: functools.partial(m, info, indices) for name, m in methods.items()}
            seconds, best, frames = interleaved(tasks, repeats, warm_up=not long)
            for name in methods:
                row[name] = seconds[name]
                row[f"{name}_best"] = best[name]
                row[f"{name}_decoded_right"] = sum(
                    read_frame_code(f.image, BITS) == f.index for f in frames[name]
                )
            row["keyframe_max_error_s"] = max(
                min(abs(f.timestamp_s - i / info.fps) for f in frames["keyframe"]) for i in indices
            )
            rows.append(row)
            print(_line(row), flush=True)
    out = cache_root() / "bench-frames" / "results.json"
    out.write_text(json.dumps({"cases": rows, "crossover": gaps}, indent=2))
    print(f"saved {out}")


if __name__ == "__main__":
    main()
