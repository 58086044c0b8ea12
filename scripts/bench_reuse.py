"""What reusing a video saves, measured side by side in one run.

1. Several questions in one run: each question's own time (the first one's includes
   sampling and the vision pass; the model load is reported apart).
2. A second process asking a new question about the same clip, with the video cache on
   disk, against the first process (both timed from process start to exit: imports and
   model load included); a third process asks the same new question with --no-cache, for
   the answers' agreement; the cache's own time on the first process (a miss) is its
   overhead.
3. Highlights of a 10-minute clip (30 s windows, 5 s overlap, 8 frames; every frame of it
   differs, as in real video): vision encodings with frames on one time grid against frames
   spread per window, per hour of video, and the answers of windows whose frames are the
   same in both.

Every answer is 64 tokens (end of sequence ignored) over 8 frames of a 10 s 640x360 clip,
on the 256M architecture with random weights unless --model says otherwise.
"""

from __future__ import annotations

import argparse
import gc
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from chronicon_mlx.analysis.analyze import Analyzer
from chronicon_mlx.analysis.params import GenerationConfig, SamplingConfig
from chronicon_mlx.analysis.session import ModelSession
from chronicon_mlx.analysis.spec import SessionSpec
from chronicon_mlx.analysis.videocache import VideoCache
from chronicon_mlx.highlight.params import HighlightsConfig
from chronicon_mlx.highlight.run import HighlightFinder
from chronicon_mlx.media.synthetic import write_sample_video
from chronicon_mlx.model.random_weights import cached_checkpoint
from chronicon_mlx.options import profiles
from chronicon_mlx.paths import cache_root

QUESTIONS = ["What happens in this video?", "Which colours do you see?", "Is anyone there?"]
FRAMES, TOKENS = 8, 64


def _clip(name: str, seconds: float, size: tuple[int, int], coded: bool = False) -> Path:
    path = cache_root() / "bench-reuse" / name
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        write_sample_video(path, seconds=seconds, fps=30, size=size, coded=coded)
    return path


def _generation() -> GenerationConfig:
    return GenerationConfig(max_tokens=TOKENS, ignore_eos=True)


def worker(model: str, backend: str, clip: Path, question: str, cache: str | None) -> None:
    """One process's analysis (run with --worker): prints its record as JSON."""
    video_cache = VideoCache(Path(cache), 10**11) if cache else None
    session = Analyzer(
        SessionSpec(model=model, backend=backend, device="cpu"), video_cache=video_cache
    )
    result = session.analyze(clip, question, None, SamplingConfig(frames=FRAMES), _generation())
    print(json.dumps(result.to_dict()), flush=True)
    gc.freeze()  # as the CLI's entry point does before the process ends


def _process(
    args: argparse.Namespace, clip: Path, question: str, cache: str | None
) -> dict[str, Any]:
    command = [
        sys.executable,
        __file__,
        "--worker",
        "--model",
        args.model,
        "--backend",
        args.backend,
        "--clip",
        str(clip),
        "--question",
        question,
    ]
    if cache:
        command += ["--cache", cache]
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    record: dict[str, Any] = json.loads(done.stdout)
    record["process_s"] = time.perf_counter() - start
    return record


def questions_in_one_run(args: argparse.Namespace, clip: Path) -> dict[str, Any]:
    """Part 1: three questions, one session, one sampling and vision pass."""
    session = Analyzer(SessionSpec(model=args.model, backend=args.backend, device="cpu"))
    result = session.analyze(clip, QUESTIONS, None, SamplingConfig(frames=FRAMES), _generation())
    per_question = [sum(a.stages.values()) for a in result.answers]
    per_question[0] += result.stages.get("probe", 0.0) + result.stages.get("sample", 0.0)
    return {
        "backend": result.backend_info.name,
        "load_s": result.stages["load"],
        "question_s": per_question,
        "speedup": [per_question[0] / s for s in per_question[1:]],
        "encoded_frames": [a.usage.encoded_frames for a in result.answers],
        "answers": [a.text for a in result.answers],
        "generated": [a.usage.generated_tokens for a in result.answers],
    }


def second_process(args: argparse.Namespace, clip: Path) -> dict[str, Any]:
    """Part 2: a first process (cache miss), a second with a new question (hit), a third
    with that question and no cache."""
    with tempfile.TemporaryDirectory() as folder:
        first = _process(args, clip, QUESTIONS[0], folder)
        second = _process(args, clip, QUESTIONS[1], folder)
    plain = _process(args, clip, QUESTIONS[1], None)
    stages = first["timing"]["stages"]
    return {
        "first_process_s": first["process_s"],
        "second_process_s": second["process_s"],
        "speedup": first["process_s"] / second["process_s"],
        "second_notes": second["notes"],
        "miss_cache_s": stages.get("cache", 0.0),
        "miss_overhead": stages.get("cache", 0.0) / first["process_s"],
        "no_cache_process_s": plain["process_s"],
        "same_answer_with_and_without_cache": second["analysis"] == plain["analysis"],
        "first_answer": first["analysis"],
        "second_stages": second["timing"]["stages"],
        "first_stages": stages,
    }


def shared_grid(args: argparse.Namespace) -> dict[str, Any]:
    """Part 3: highlights over 10 minutes with and without the shared time grid."""
    clip = _clip("ten_minutes_coded_320x180.mp4", 600, (320, 180), coded=True)
    runs = {}
    for grid in (False, True):
        session = ModelSession(
            SessionSpec(model=args.highlights_model, backend=args.backend, device="cpu")
        )
        config = HighlightsConfig(
            window_s=30, overlap_s=5, frames_per_window=FRAMES, frame_grid=grid
        )
        start = time.perf_counter()
        windows = HighlightFinder(session, profiles.get("general")).run(clip, config).windows
        runs[grid] = (windows, time.perf_counter() - start)
    (alone, alone_s), (shared, shared_s) = runs[False], runs[True]
    hours = 600 / 3600
    # Distinct frames: what the vision tower costs on a real video, where a frame is shared
    # only when it is the same frame (the tiny checkpoint's shrunk coded frames can repeat).
    before = len({i for w in alone for i in w.frame_indices})
    after = len({i for w in shared for i in w.frame_indices})
    same_frames = [
        n
        for n, (a, b) in enumerate(zip(alone, shared, strict=True))
        if a.frame_indices == b.frame_indices
    ]
    return {
        "windows": len(shared),
        "encodings_per_hour_before": before / hours,
        "encodings_per_hour_after": after / hours,
        "reduction": 1 - after / before,
        "planned_frames": sum(len(w.frame_indices) for w in shared),
        "encoded_by_the_backend": [sum(w.encoded_frames for w in r) for r in (alone, shared)],
        "overlap_share": 5 / 30,
        "windows_with_the_same_frames": same_frames,
        "same_answers_there": all(alone[n].raw == shared[n].raw for n in same_frames),
        "seconds_before": alone_s,
        "seconds_after": shared_s,
    }


def main() -> None:
    """Run the three parts and print the ratios."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", default=None, help="default: 256M with random weights")
    parser.add_argument("--highlights-model", default=None, help="default: the tiny checkpoint")
    parser.add_argument("--backend", default="transformers")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--clip", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--question", help=argparse.SUPPRESS)
    parser.add_argument("--cache", help=argparse.SUPPRESS)
    parser.add_argument("--output", type=Path, default=Path("results/bench_reuse.json"))
    args = parser.parse_args()
    args.model = args.model or str(cached_checkpoint("256m"))
    if args.worker:
        worker(args.model, args.backend, args.clip, args.question, args.cache)
        return
    args.highlights_model = args.highlights_model or str(cached_checkpoint("tiny"))
    clip = _clip("ten_seconds_640x360.mp4", 10, (640, 360))
    report = {"model": args.model, "backend": args.backend, "frames": FRAMES, "tokens": TOKENS}
    one = report["questions_in_one_run"] = questions_in_one_run(args, clip)
    print(
        f"questions in one run ({one['backend']}): "
        + ", ".join(f"Q{n + 1} {s:.2f} s" for n, s in enumerate(one["question_s"]))
        + f" (load {one['load_s']:.2f} s apart); Q1/Q2 {one['speedup'][0]:.1f}x,"
        f" Q1/Q3 {one['speedup'][1]:.1f}x; vision frames {one['encoded_frames']}"
    )
    two = report["second_process"] = second_process(args, clip)
    print(
        f"second process with the cache: {two['first_process_s']:.2f} s -> "
        f"{two['second_process_s']:.2f} s ({two['speedup']:.1f}x); cache on the miss"
        f" {two['miss_cache_s']:.3f} s ({100 * two['miss_overhead']:.2f}% of the process);"
        f" no cache {two['no_cache_process_s']:.2f} s; same answer with and without the"
        f" cache: {two['same_answer_with_and_without_cache']}"
    )
    grid = report["shared_grid"] = shared_grid(args)
    print(
        f"highlights, 10 min, {grid['windows']} windows: vision encodings per hour"
        f" {grid['encodings_per_hour_before']:.0f} -> {grid['encodings_per_hour_after']:.0f}"
        f" ({100 * grid['reduction']:.1f}% fewer; overlap share"
        f" {100 * grid['overlap_share']:.1f}%); windows with unchanged frames"
        f" {grid['windows_with_the_same_frames']}, same answers there:"
        f" {grid['same_answers_there']}"
    )
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2) + "\n")
    print(f"saved {args.output}")


if __name__ == "__main__":
    main()
