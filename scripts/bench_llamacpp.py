"""The cpu engine against llama.cpp on the same work: SmolVLM2-256M's architecture with random
weights and SmolVLM2's real tokenizer and processor files, the same 8 frames of the bench
clip, the same question, exactly 64 tokens, the same threads; each trial a fresh process,
the order rotated every round; process start to exit, medians.

    python scripts/bench_llamacpp.py LLAMA_CPP [--runs 7] [--threads 2]

LLAMA_CPP is a llama.cpp source tree built with CMake (``build/bin/llama-mtmd-cli``,
``build/bin/llama-quantize`` and, for llama.cpp's decode rate, ``build/bin/llama-bench``),
whose ``convert_hf_to_gguf.py`` and ``gguf-py`` convert the checkpoint: text weights in
float32 and Q8_0, the projector in float16 and float32. The projector's preprocessor size is
set to the tower's 512 px, so that llama.cpp sees each frame as one tile (it adds an
overview of it, as it does for every SmolVLM image). Peak memory is each process's own
high-water mark.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from chronicon_mlx.machine import peak_resident_bytes
from chronicon_mlx.media.decode import sample
from chronicon_mlx.media.plan import plan
from chronicon_mlx.media.probe import probe
from chronicon_mlx.model.random_weights import real_files_checkpoint
from chronicon_mlx.paths import cache_root
from chronicon_mlx.tools.bench import BENCH_PROMPT, BenchConfig, bench_clip, run_trial

REAL_FILES = Path(__file__).resolve().parents[1] / "tests" / "data" / "smolvlm2"


def checkpoint() -> Path:
    """256M's architecture with random weights and SmolVLM2's real files (built once)."""
    return real_files_checkpoint(REAL_FILES, "256m")


def gguf_files(llama: Path, model: Path) -> dict[str, Path]:
    """The checkpoint converted by llama.cpp's own converter (once)."""
    out = cache_root() / "llamacpp" / model.name
    files = {
        "f32": out / "text-f32.gguf",
        "q8_0": out / "text-q8_0.gguf",
        "mmproj-f16": out / "mmproj-f16.gguf",
        "mmproj-f32": out / "mmproj-f32.gguf",
    }
    if all(path.is_file() for path in files.values()):
        return files
    source = out / "hf"
    shutil.rmtree(source, ignore_errors=True)
    source.mkdir(parents=True)
    for path in model.iterdir():
        (source / path.name).symlink_to(path)
    settings = json.loads((model / "preprocessor_config.json").read_text())
    settings["size"] = {"longest_edge": settings["max_image_size"]["longest_edge"]}
    (source / "preprocessor_config.json").unlink()
    (source / "preprocessor_config.json").write_text(json.dumps(settings))
    env = dict(os.environ, PYTHONPATH=str(llama / "gguf-py"))
    convert = [sys.executable, str(llama / "convert_hf_to_gguf.py"), str(source)]
    for outtype, name, extra in (
        ("f32", "f32", []),
        ("f16", "mmproj-f16", ["--mmproj"]),
        ("f32", "mmproj-f32", ["--mmproj"]),
    ):
        command = [*convert, "--outfile", str(files[name]), "--outtype", outtype, *extra]
        subprocess.run(command, env=env, check=True, capture_output=True)
    quantize = llama / "build" / "bin" / "llama-quantize"
    subprocess.run(
        [str(quantize), str(files["f32"]), str(files["q8_0"]), "Q8_0"],
        check=True,
        capture_output=True,
    )
    return files


def frame_images(video: Path, frames: int, folder: Path) -> list[Path]:
    """The frames our analysis samples, as PNG files at the video's size."""
    import cv2

    info = probe(video)
    chosen = sample(
        info, plan(info, 0, info.frame_count, frames, "exact"), max(info.width, info.height)
    )
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for number, frame in enumerate(chosen):
        path = folder / f"frame-{number}.png"
        cv2.imwrite(str(path), cv2.cvtColor(frame.image, cv2.COLOR_RGB2BGR))
        paths.append(path)
    return paths


def llama_trial(
    llama: Path, text: Path, mmproj: Path, images: list[Path], tokens: int, threads: int
) -> dict[str, float]:
    """One llama-mtmd-cli run: process start to exit, the projector's encode time, peak
    memory."""
    options = {
        "-m": text,
        "--mmproj": mmproj,
        "--image": ",".join(str(p) for p in images),
        "-p": BENCH_PROMPT,
        "-n": tokens,
        "--temp": 0,
        "-t": threads,
    }
    command = [str(llama / "build" / "bin" / "llama-mtmd-cli")]
    command += [str(part) for pair in options.items() for part in pair]
    command += ["--ignore-eos", "--no-warmup"]
    peak = 0
    with tempfile.TemporaryFile("w+") as log:
        started = time.perf_counter()
        proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=log, text=True)
        while proc.poll() is None:  # its own high-water mark (maxrss counts ours)
            peak = max(peak, peak_resident_bytes(proc.pid))
            time.sleep(0.02)
        wall = time.perf_counter() - started
        log.seek(0)
        err = log.read()
    if proc.returncode != 0:
        raise RuntimeError(err.strip().splitlines()[-1] if err.strip() else "llama-mtmd-cli failed")
    encode = sum(
        float(line.rsplit(" in ", 1)[1].split()[0]) / 1000
        for line in err.splitlines()
        if "batch encoding done in" in line
    )
    return {
        "end_to_end": wall,
        "vision": encode,
        "peak_gb": peak / 1e9,
    }


def llama_decode(llama: Path, text: Path, depth: int, tokens: int, threads: int) -> float:
    """llama.cpp's decode tokens/s after `depth` tokens of context, from llama-bench's JSON
    (0.0 when the tree has no llama-bench: ``cmake --build build --target llama-bench``)."""
    tool = llama / "build" / "bin" / "llama-bench"
    if not tool.is_file():
        return 0.0
    command = [str(tool), "-m", str(text), "-p", "0", "-n", str(tokens), "-d", str(depth)]
    command += ["-t", str(threads), "-r", "3", "-o", "json"]
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    return float(json.loads(done.stdout)[0]["avg_ts"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("llama_cpp", type=Path, help="a built llama.cpp source tree")
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--frames", type=int, default=8)
    parser.add_argument("--tokens", type=int, default=64)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--output", type=Path, default=Path("results/bench-llamacpp.json"))
    args = parser.parse_args()
    model = checkpoint()
    files = gguf_files(args.llama_cpp, model)
    video = bench_clip()
    images = frame_images(video, args.frames, cache_root() / "llamacpp" / "frames")
    subjects = [
        "llama.cpp Q8_0 + f16 projector",
        "llama.cpp f32",
        "cpu engine int8",
        "cpu engine float32",
    ]
    results: dict[str, list[dict[str, float]]] = {name: [] for name in subjects}
    for round_ in range(args.runs + 1):  # the first round warms the page cache
        order = subjects[round_ % len(subjects) :] + subjects[: round_ % len(subjects)]
        for name in order:
            if name.startswith("llama.cpp"):
                quantized = "Q8_0" in name
                text = files["q8_0" if quantized else "f32"]
                mmproj = files["mmproj-f16" if quantized else "mmproj-f32"]
                trial = llama_trial(args.llama_cpp, text, mmproj, images, args.tokens, args.threads)
            else:
                config = BenchConfig("cpu", "cpu", quantize="int8" if "int8" in name else "none")
                done = run_trial(config, model, video, args.frames, args.tokens)
                if not done.ok:
                    raise RuntimeError(f"{name}: {done.error}")
                stages = done.stages
                trial = {
                    "end_to_end": stages["end_to_end"] + stages["exit"],
                    "answer": stages["end_to_end"],
                    "setup": stages["setup"],
                    "vision": stages["vision"],
                    "decode_tps": done.decode_tps,
                    "prompt_tokens": done.prompt_tokens,
                    "peak_gb": done.peak_memory_gb,
                }
            if round_:
                results[name].append(trial)
            print(f"round {round_}: {name}: {trial['end_to_end']:.2f} s", file=sys.stderr)
    summary = {
        name: {key: statistics.median(t[key] for t in trials) for key in trials[0]}
        for name, trials in results.items()
    }
    depth = round(statistics.median(t["prompt_tokens"] for t in results["cpu engine int8"]))
    for name, text in (("llama.cpp Q8_0 + f16 projector", "q8_0"), ("llama.cpp f32", "f32")):
        summary[name]["decode_tps"] = llama_decode(
            args.llama_cpp, files[text], depth, args.tokens, args.threads
        )
    base = summary["llama.cpp Q8_0 + f16 projector"]["end_to_end"]
    for row in summary.values():
        row["of_llamacpp_q8_0"] = row["end_to_end"] / base
    report = {
        "date": time.strftime("%Y-%m-%d"),
        "runs": args.runs,
        "threads": args.threads,
        "frames": args.frames,
        "tokens": args.tokens,
        "results": summary,
    }
    text = json.dumps(report, indent=2)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
