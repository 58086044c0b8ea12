"""Everything worth knowing about this tool on an NVIDIA GPU, in one run.

    python scripts/device_check.py OUT [--wheels DIR] [--sizes 256m,500m,2.2b] [--runs 3]
                                       [--budget SECONDS] [--dry-run]

On a machine with CUDA it installs the wheels in DIR into a temporary target (no network
needed), builds the random-weight checkpoints it needs (or takes them from the cache), and
runs, most telling first, each step on its own so that one failure never stops the rest:

1. `chronicon-mlx doctor --json`;
2. CUDA-vs-CPU parity: float32, the tiny checkpoint, identical greedy tokens;
3. bench: the transformers CUDA backend in bfloat16 and float32 for each size (8 frames,
   64 tokens, one warm-up and `--runs` runs), with decode tokens/s against the weights'
   bytes over the GPU's memory bandwidth and vision + prefill FLOP/s against its bfloat16
   peak (both measured here, and the datasheet figures when the GPU is known);
4. transformers' own SmolVLMProcessor video path (it needs torchvision) against this
   project's frames and pixel values for the same clip;
5. a highlights run over a generated 10-minute clip;
6. MLX on CUDA, when the mlx CUDA wheels were brought.

It writes OUT/device_check.json and OUT/summary.txt. Without CUDA (or with --dry-run) it
says so, writes its plan there and exits 0. Steps still to run when `--budget` seconds have
passed are recorded as skipped.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

# Datasheet figures: memory bandwidth (bytes/s) and dense bfloat16 peak (FLOP/s).
DATASHEETS = {
    "H200": (4.8e12, 989e12),
    "H100": (3.35e12, 989e12),
    "A100": (2.0e12, 312e12),
    "L40S": (0.864e12, 362e12),
}
FRAMES, TOKENS = 8, 64


def cuda_here() -> bool:
    """True when torch is installed and sees a CUDA GPU."""
    try:
        import torch
    except ImportError:
        return False
    return bool(torch.cuda.is_available())


def install_wheels(folder: Path) -> dict[str, Any]:
    """pip install the wheels in `folder` into a temporary target, first on sys.path and on
    the PYTHONPATH of every subprocess."""
    wheels = sorted(str(p) for p in folder.glob("*.whl"))
    if not wheels:
        return {"installed": [], "note": f"no wheels in {folder}"}
    target = Path(tempfile.mkdtemp(prefix="chronicon-wheels-"))
    command = [
        sys.executable,
        "-m",
        "pip",
        "install",
        "--no-deps",
        "--no-index",
        "--quiet",
        "--target",
        str(target),
        *wheels,
    ]
    subprocess.run(command, check=True)
    sys.path.insert(0, str(target))
    os.environ["PYTHONPATH"] = os.pathsep.join(
        [str(target), str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]
    )
    return {"installed": [Path(w).name for w in wheels], "target": str(target)}


def doctor() -> dict[str, Any]:
    """The tool's own report of this machine."""
    command = [sys.executable, "-m", "chronicon_mlx", "doctor", "--json"]
    proc = subprocess.run(command, capture_output=True, text=True, timeout=300)
    try:
        return {"exit_code": proc.returncode, "report": json.loads(proc.stdout)}
    except json.JSONDecodeError:
        return {
            "exit_code": proc.returncode,
            "stdout": proc.stdout[-2000:],
            "stderr": proc.stderr[-2000:],
        }


def _requests(template: str, count: int = 3) -> list[Any]:
    import numpy as np

    from chronicon_mlx.backends import GenerationRequest
    from chronicon_mlx.model import prompt as prompts

    out = []
    for seed in range(count):
        rng = np.random.default_rng(seed)
        frames = [rng.integers(0, 255, (180, 320, 3), dtype=np.uint8) for _ in range(6)]
        text = prompts.build_prompt(
            template, f"Question {seed}: what happens?", [i * 0.5 for i in range(6)], 3.0
        )
        out.append(GenerationRequest(frames, text, max_tokens=24))
    return out


def parity() -> dict[str, Any]:
    """Greedy tokens of the tiny checkpoint in float32 on CUDA and on the CPU."""
    from chronicon_mlx.backends import Candidate, create
    from chronicon_mlx.model.prompt import load_chat_template
    from chronicon_mlx.model.random_weights import cached_checkpoint
    from chronicon_mlx.model.resolver import resolve

    ref = resolve(str(cached_checkpoint("tiny")))
    backends = {}
    for device in ("cuda", "cpu"):
        backend = create(Candidate("transformers", device), dtype="float32")
        backend.load(ref)
        backends[device] = backend
    cases = []
    for request in _requests(load_chat_template(ref.path)):
        a, b = backends["cuda"].generate(request), backends["cpu"].generate(request)
        cases.append(
            {"identical": a.token_ids == b.token_ids, "cuda": a.token_ids, "cpu": b.token_ids}
        )
    return {"identical": all(c["identical"] for c in cases), "cases": cases}


def gpu_limits() -> dict[str, Any]:
    """This GPU's memory bandwidth (a large device copy) and bfloat16 GEMM rate (8192³),
    measured, and its datasheet figures when known."""
    import torch

    name = torch.cuda.get_device_name()
    data = torch.empty(1 << 30, dtype=torch.uint8, device="cuda")
    copy = torch.empty_like(data)
    a = torch.randn(8192, 8192, dtype=torch.bfloat16, device="cuda")

    def best(work: Callable[[], Any]) -> float:
        work()
        torch.cuda.synchronize()
        times = []
        for _ in range(5):
            start = time.perf_counter()
            work()
            torch.cuda.synchronize()
            times.append(time.perf_counter() - start)
        return min(times)

    bandwidth = 2 * data.numel() / best(lambda: copy.copy_(data))
    flops = 2 * 8192**3 / best(lambda: a @ a)
    sheet = next((v for k, v in DATASHEETS.items() if k in name), None)
    return {
        "gpu": name,
        "measured_bandwidth": bandwidth,
        "measured_bf16_flops": flops,
        "datasheet_bandwidth": sheet[0] if sheet else None,
        "datasheet_bf16_flops": sheet[1] if sheet else None,
    }


def bench(sizes: list[str], runs: int, limits: dict[str, Any]) -> dict[str, Any]:
    """Warm-up plus `runs` trials of the transformers CUDA backend per size and dtype, each
    in a fresh process, against the GPU's limits."""
    from chronicon_mlx.model.cost import decode_bytes, prefill_flops, vision_flops
    from chronicon_mlx.model.random_weights import cached_checkpoint
    from chronicon_mlx.model.resolver import resolve
    from chronicon_mlx.tools.bench import BenchConfig, bench_clip, run_trial

    clip = bench_clip()
    bandwidth = limits.get("datasheet_bandwidth") or limits["measured_bandwidth"]
    peak = limits.get("datasheet_bf16_flops") or limits["measured_bf16_flops"]
    rows = []
    for size in sizes:
        model = cached_checkpoint(size)
        config = resolve(str(model)).config
        for dtype in ("bfloat16", "float32"):
            settings = BenchConfig("transformers", "cuda", dtype=dtype)
            run_trial(settings, model, clip, FRAMES, TOKENS)
            trials = [run_trial(settings, model, clip, FRAMES, TOKENS) for _ in range(runs)]
            done = [t for t in trials if t.ok]
            row: dict[str, Any] = {"size": size, "dtype": dtype, "trials": len(done)}
            if not done:
                row["errors"] = sorted({t.error for t in trials})
                rows.append(row)
                continue
            stages = {
                s: statistics.median(t.stages.get(s, 0.0) for t in done) for s in done[0].stages
            }
            tps = statistics.median(t.decode_tps for t in done)
            work = vision_flops(config, FRAMES) + prefill_flops(config, done[0].prompt_tokens)
            busy = stages.get("vision", 0.0) + stages.get("prefill", 0.0)
            row.update(
                stages=stages,
                decode_tps=tps,
                prompt_tokens=done[0].prompt_tokens,
                peak_memory_gb=max(t.peak_memory_gb for t in done),
                decode_of_bandwidth=tps * decode_bytes(config, dtype) / bandwidth,
                vision_prefill_of_bf16_peak=(work / busy / peak) if busy else 0.0,
            )
            rows.append(row)
    return {"frames": FRAMES, "tokens": TOKENS, "runs": runs, "rows": rows}


def pixels() -> dict[str, Any]:
    """transformers' SmolVLMVideoProcessor (torchvision) against this project's frame
    choice and pixel values, on one generated clip."""
    import numpy as np
    from PIL import Image
    from transformers import AutoImageProcessor
    from transformers.models.smolvlm.video_processing_smolvlm import SmolVLMVideoProcessor

    from chronicon_mlx import paths
    from chronicon_mlx.media.decode import sample
    from chronicon_mlx.media.plan import plan
    from chronicon_mlx.media.probe import probe
    from chronicon_mlx.media.synthetic import write_sample_video
    from chronicon_mlx.model.random_weights import cached_checkpoint
    from chronicon_mlx.model.resolver import resolve

    model = resolve(str(cached_checkpoint("256m")))
    clip = paths.cache_root() / "pixels" / "clip_1280x720.mp4"
    if not clip.is_file():
        write_sample_video(clip, seconds=4, fps=30, size=(1280, 720))
    info = probe(clip)
    ours_idx = plan(info, 0, info.frame_count, FRAMES)
    everything = sample(info, list(range(info.frame_count)))
    video = np.stack([f.image for f in everything])
    square = int(model.config["vision_config"]["image_size"])
    reference = SmolVLMVideoProcessor(
        size={"longest_edge": model.video_edge}, max_image_size={"longest_edge": square}
    )
    metadata = {"fps": info.fps, "total_num_frames": info.frame_count, "duration": info.duration_s}
    theirs_idx: list[int] | None
    try:
        chosen = reference.sample_frames(metadata=metadata, num_frames=FRAMES)
        theirs_idx = [int(i) for i in np.asarray(chosen).reshape(-1)]
    except Exception as exc:
        theirs_idx = None
        choice_error = f"{type(exc).__name__}: {exc}"
    else:
        choice_error = ""
    theirs = reference(videos=[video[ours_idx]], do_sample_frames=False, return_tensors="np")
    theirs_px = np.asarray(theirs["pixel_values"])[0]
    processor = AutoImageProcessor.from_pretrained(model.path, backend="pil")
    processor.do_image_splitting = False
    shrunk = sample(info, ours_idx, model.frame_size)
    ours_px = np.stack(
        [
            np.asarray(processor([Image.fromarray(f.image)], return_tensors="np")["pixel_values"])[
                0, 0
            ]
            for f in shrunk
        ]
    )
    diff = np.abs(ours_px.astype(np.float32) - theirs_px.astype(np.float32))
    return {
        "frames_ours": ours_idx,
        "frames_transformers": theirs_idx,
        "frame_choice_differs": None if theirs_idx is None else theirs_idx != ours_idx,
        "frame_choice_error": choice_error,
        "pixel_difference": {"mean": float(diff.mean()), "max": float(diff.max())},
        "shapes": {"ours": list(ours_px.shape), "transformers": list(theirs_px.shape)},
    }


def highlights(out: Path) -> dict[str, Any]:
    """`chronicon-mlx highlights` over a generated 10-minute clip on CUDA (256M)."""
    from chronicon_mlx import paths
    from chronicon_mlx.media.synthetic import write_sample_video
    from chronicon_mlx.model.random_weights import cached_checkpoint

    clip = paths.cache_root() / "bench" / "clip_10min_640x360.mp4"
    if not clip.is_file():
        write_sample_video(clip, seconds=600, fps=10, size=(640, 360))
    model = cached_checkpoint("256m")
    command = [
        sys.executable,
        "-m",
        "chronicon_mlx",
        "highlights",
        str(clip),
        "-m",
        str(model),
        "--backend",
        "transformers",
        "--device",
        "cuda",
        "--output",
        str(out / "highlights"),
        "--quiet",
    ]
    start = time.perf_counter()
    proc = subprocess.run(command, capture_output=True, text=True, timeout=1200)
    result: dict[str, Any] = {"exit_code": proc.returncode, "seconds": time.perf_counter() - start}
    if proc.returncode != 0:
        result["stderr"] = proc.stderr[-2000:]
    return result


def mlx_cuda() -> dict[str, Any]:
    """Whether MLX runs on this GPU (it needs the mlx CUDA wheels, which are large)."""
    try:
        import mlx.core as mx
    except ImportError as exc:
        return {"available": False, "reason": f"mlx is not installed here ({exc})"}
    if not mx.is_available(mx.gpu):
        return {"available": False, "reason": "mlx is installed without a CUDA device"}
    a = mx.ones((4096, 4096))
    mx.eval(a @ a)
    return {"available": True, "version": mx.__version__}


STEPS: list[tuple[str, str]] = [
    ("doctor", "chronicon-mlx doctor --json"),
    ("parity", "CUDA vs CPU greedy tokens, float32, tiny checkpoint"),
    ("limits", "GPU memory bandwidth and bfloat16 GEMM rate"),
    ("bench", "transformers CUDA, bfloat16 and float32, per size, 8 frames, 64 tokens"),
    ("pixels", "transformers' SmolVLMVideoProcessor against this project's frames and pixels"),
    ("highlights", "highlights over a generated 10-minute clip on CUDA"),
    ("mlx_cuda", "MLX on CUDA"),
]


def summary(report: dict[str, Any]) -> str:
    """A few lines a person reads first."""
    lines = [f"device check {report['date']}: {report.get('gpu') or 'no CUDA GPU'}"]
    if report["dry_run"]:
        lines.append("dry run: " + report["reason"])
        lines += [f"  would run: {name} ({what})" for name, what in STEPS]
        return "\n".join(lines) + "\n"
    steps = report["steps"]
    for name, _ in STEPS:
        step = steps.get(name, {})
        lines.append(f"{name}: {step.get('status', 'not run')} ({step.get('seconds', 0):.0f} s)")
    parity_result = steps.get("parity", {}).get("result", {})
    if parity_result:
        lines.append(f"  parity: identical greedy tokens = {parity_result['identical']}")
    for row in steps.get("bench", {}).get("result", {}).get("rows", []):
        if row.get("trials"):
            lines.append(
                f"  {row['size']} {row['dtype']}: decode {row['decode_tps']:.1f} tok/s"
                f" ({row['decode_of_bandwidth'] * 100:.1f}% of bandwidth), vision+prefill"
                f" {row['vision_prefill_of_bf16_peak'] * 100:.1f}% of bf16 peak,"
                f" end to end {row['stages'].get('end_to_end', 0):.2f} s"
            )
    pixel = steps.get("pixels", {}).get("result", {})
    if pixel:
        diff = pixel["pixel_difference"]
        lines.append(
            f"  pixels vs SmolVLMVideoProcessor: mean {diff['mean']:.4f}, max {diff['max']:.4f};"
            f" frame choice differs: {pixel['frame_choice_differs']}"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Run the plan (or its dry run); write the JSON and the summary; return 0."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--wheels", type=Path)
    parser.add_argument("--sizes", default="256m,500m,2.2b")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--budget", type=float, default=480.0)
    parser.add_argument("--dry-run", action="store_true")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    report: dict[str, Any] = {
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "python": sys.version.split()[0],
        "plan": [{"step": name, "what": what} for name, what in STEPS],
        "steps": {},
    }
    if args.wheels:
        report["wheels"] = install_wheels(args.wheels)
    cuda = cuda_here()
    report["dry_run"] = args.dry_run or not cuda
    if report["dry_run"]:
        report["reason"] = "--dry-run given" if cuda else "no CUDA GPU on this machine"
        print(f"device check: {report['reason']}; writing the plan only")
    else:
        import torch

        report["gpu"] = torch.cuda.get_device_name()
        report["torch"] = torch.__version__
        sizes = [s.strip() for s in args.sizes.split(",") if s.strip()]
        limits: dict[str, Any] = {}
        work: dict[str, Callable[[], Any]] = {
            "doctor": doctor,
            "parity": parity,
            "limits": lambda: limits.update(gpu_limits()) or limits,
            "bench": lambda: bench(sizes, args.runs, limits or gpu_limits()),
            "pixels": pixels,
            "highlights": lambda: highlights(args.out),
            "mlx_cuda": mlx_cuda,
        }
        for name, _ in STEPS:
            if time.perf_counter() - started > args.budget:
                report["steps"][name] = {"status": "skipped: out of time", "seconds": 0}
                continue
            print(f"device check: {name}", flush=True)
            begun = time.perf_counter()
            try:
                step = {"status": "ok", "result": work[name]()}
            except Exception as exc:
                step = {
                    "status": f"failed: {type(exc).__name__}: {exc}",
                    "traceback": traceback.format_exc()[-3000:],
                }
            step["seconds"] = time.perf_counter() - begun
            report["steps"][name] = step
            _write(args.out, report)
    _write(args.out, report)
    print(summary(report), end="")
    return 0


def _write(out: Path, report: dict[str, Any]) -> None:
    from chronicon_mlx.files import atomic_write_text

    atomic_write_text(out / "device_check.json", json.dumps(report, indent=2, default=str) + "\n")
    atomic_write_text(out / "summary.txt", summary(report))


if __name__ == "__main__":
    sys.exit(main())
