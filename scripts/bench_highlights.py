"""Time `highlights` with and without shared decoding and prefix reuse, in one run.

The model is loaded once; each configuration scores every window of the same 5-minute
720p H.264 clip (GOP 250, written once with PyAV into the cache). Configurations run in
turn, `--repeats` times each, and the table shows the median seconds per stage.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
from pathlib import Path

from chronicon_mlx.analysis.session import ModelSession
from chronicon_mlx.analysis.spec import SessionSpec
from chronicon_mlx.highlight.params import HighlightsConfig, Tuning
from chronicon_mlx.highlight.run import HighlightFinder
from chronicon_mlx.media.synthetic import write_av_video
from chronicon_mlx.model.random_weights import cached_checkpoint
from chronicon_mlx.options import profiles
from chronicon_mlx.paths import cache_root

CONFIGS = {
    "shared decoding + prefix reuse": {"shared_decoding": True, "reuse_prefix": True},
    "shared decoding only": {"shared_decoding": True, "reuse_prefix": False},
    "prefix reuse only": {"shared_decoding": False, "reuse_prefix": True},
    "neither (recompute)": {"shared_decoding": False, "reuse_prefix": False},
}


def clip(minutes: float = 5.0) -> Path:
    """The cached benchmark clip."""
    path = cache_root() / "bench-highlights" / f"h264_720p30_gop250_{minutes:g}min.mp4"
    if not path.is_file():
        tmp = path.with_suffix(".tmp.mp4")
        write_av_video(
            tmp,
            size=(1280, 720),
            fps=30,
            frames=round(minutes * 1800),
            gop=250,
            bits=16,
            preset="ultrafast",
        )
        tmp.replace(path)
    return path


def main() -> None:
    """Run every configuration and print the comparison."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", default=None, help="model (default: the tiny checkpoint)")
    parser.add_argument("--backend", default="mlx")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--minutes", type=float, default=5.0)
    args = parser.parse_args()
    model = args.model or str(cached_checkpoint("tiny"))
    video = clip(args.minutes)
    session = ModelSession(SessionSpec(model=model, backend=args.backend))
    loaded = session.load(6, 256)
    profile = profiles.get("general")
    stages: dict[str, list[dict[str, float]]] = {name: [] for name in CONFIGS}
    per_window: dict[str, list[float]] = {name: [] for name in CONFIGS}
    answers: dict[str, list[object]] = {}
    for _ in range(args.repeats):
        for name, flags in CONFIGS.items():
            config, tuning = HighlightsConfig(), Tuning(**flags)
            with tempfile.TemporaryDirectory() as folder:
                result = HighlightFinder(session, profile, tuning=tuning).run(
                    video, config, Path(folder)
                )
            timings = dict(result.timings)
            timings["total"] = timings.get("decode", 0) + timings.get("generate", 0)
            stages[name].append(timings)
            per_window[name].append(sum(w.generate_s for w in result.windows) / len(result.windows))
            answers[name] = [(w.significance, w.description) for w in result.windows]
    medians = {
        name: {key: statistics.median(run[key] for run in runs) for key in runs[0]}
        for name, runs in stages.items()
    }
    base = medians["shared decoding + prefix reuse"]
    backend = loaded.backend.info.name
    print(
        f"{video.name}: {len(result.windows)} windows, model {loaded.model.name},"
        f" backend {backend}, median of {args.repeats}"
    )
    for name, row in medians.items():
        print(
            f"{name:32} decode {row['decode']:6.2f} s | model {row['generate']:6.2f} s"
            f" | total {row['total']:6.2f} s | per window"
            f" {statistics.median(per_window[name]):.3f} s (model)"
            f" | total / shared+reuse {row['total'] / base['total']:4.2f}x"
        )
    same = all(a == answers["neither (recompute)"] for a in answers.values())
    print(f"same answers in every configuration: {same}")
    out = cache_root() / "bench-highlights" / "results.json"
    out.write_text(json.dumps({"medians": medians, "same_answers": same}, indent=2))
    print(f"saved {out}")


if __name__ == "__main__":
    main()
