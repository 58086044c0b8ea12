"""The audio stage measured on generated audio, random-weight Whisper models built offline.

    python scripts/bench_audio.py [--runs 3]

1. Overhead: `hear` (PyAV decode in chunks, Silero VAD, faster-whisper on the voiced audio,
   loudness) on a 10-minute clip against calling faster-whisper directly on the same audio
   (`decode_audio` then `WhisperModel.transcribe(vad_filter=True)`), same model and
   threads, alternating, medians.
2. Real-time factor of the `tiny` and `base` shapes (random weights: every 30 s window may
   decode to its token limit, so these are upper bounds for the real models' work).
3. Memory: the peak resident memory of hearing a 2-hour track against a 2-minute one, each
   in a fresh process.

Writes results/bench-audio.json.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from chronicon_mlx.audio.random_whisper import cached_whisper
from chronicon_mlx.audio.track import RATE
from chronicon_mlx.media.synthetic import write_clip_with_audio

THREADS = 2


def talk(seconds: int, every: int = 20, speak: int = 6) -> np.ndarray:
    """A voiced buzz (that voice activity detection takes for speech) for `speak` seconds
    out of every `every`, silence between."""
    t = np.arange(seconds * RATE) / RATE
    audio = np.zeros(len(t))
    voiced = (t % every) < speak
    buzz = 0.3 * np.sin(2 * np.pi * 180 * t) * (0.5 + 0.5 * np.sin(2 * np.pi * 4 * t))
    audio[voiced] += buzz[voiced]
    return audio.astype(np.float32)


def ours(path: Path, model: Path) -> float:
    from chronicon_mlx.audio.fasterwhisper import FasterWhisper
    from chronicon_mlx.audio.hear import hear

    engine = FasterWhisper(model, model.name, threads=THREADS)
    start = time.perf_counter()
    heard = hear(path, engine)
    assert heard.regions and heard.segments, "the voiced seconds are transcribed"
    return time.perf_counter() - start


def direct(path: Path, model: Path) -> float:
    from faster_whisper import WhisperModel, decode_audio

    whisper = WhisperModel(str(model), device="cpu", compute_type="int8", cpu_threads=THREADS)
    start = time.perf_counter()
    segments, _ = whisper.transcribe(decode_audio(str(path)), vad_filter=True)
    list(segments)
    return time.perf_counter() - start


def peak_of(path: Path, model: Path) -> float:
    """Peak resident memory (GB) of hearing `path` in a fresh process."""
    code = (
        "import sys, resource; from pathlib import Path;"
        "from chronicon_mlx.audio.fasterwhisper import FasterWhisper;"
        "from chronicon_mlx.audio.hear import hear;"
        "from chronicon_mlx.machine import peak_resident_bytes;"
        f"h = hear(Path({str(path)!r}), FasterWhisper(Path({str(model)!r}), 'tiny-random'));"
        "print(peak_resident_bytes(), h.end_s)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    peak, _ = out.stdout.split()
    return int(peak) / 1e9


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    report: dict[str, Any] = {"threads": THREADS}
    with tempfile.TemporaryDirectory() as folder:
        ten = write_clip_with_audio(Path(folder) / "ten.mp4", [talk(600)], fps=0.2)
        tiny_random = cached_whisper("tiny-random")
        ours(ten, tiny_random), direct(ten, tiny_random)  # warm-up
        times: dict[str, list[float]] = {"ours": [], "direct": []}
        for _ in range(args.runs):
            times["ours"].append(ours(ten, tiny_random))
            times["direct"].append(direct(ten, tiny_random))
        medians = {k: statistics.median(v) for k, v in times.items()}
        report["overhead"] = {**medians, "ratio": medians["ours"] / medians["direct"]}
        print(
            f"10 min, tiny-random: ours {medians['ours']:.2f} s, faster-whisper directly"
            f" {medians['direct']:.2f} s ({report['overhead']['ratio']:.3f}x)"
        )
        report["real_time_factor"] = {}
        for size in ("tiny", "base"):
            seconds = ours(ten, cached_whisper(size))
            report["real_time_factor"][size] = seconds / 600
            print(f"{size} (random weights): {seconds:.1f} s for 600 s, RTF {seconds / 600:.3f}")
        short = write_clip_with_audio(Path(folder) / "short.mp4", [talk(120)], fps=0.2)
        long = write_clip_with_audio(Path(folder) / "long.mp4", [talk(7200, every=600)], fps=0.02)
        peaks = {"2 minutes": peak_of(short, tiny_random), "2 hours": peak_of(long, tiny_random)}
        report["peak_memory_gb"] = peaks
        print(
            f"peak memory: 2 minutes {peaks['2 minutes']:.3f} GB, 2 hours"
            f" {peaks['2 hours']:.3f} GB (+{(peaks['2 hours'] - peaks['2 minutes']) * 1000:.0f} MB)"
        )
    Path("results").mkdir(exist_ok=True)
    Path("results/bench-audio.json").write_text(json.dumps(report, indent=2) + "\n")
    print("saved results/bench-audio.json")


if __name__ == "__main__":
    main()
