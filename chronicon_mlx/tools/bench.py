"""Benchmark core: the same analysis on every backend here, interleaved, in fresh processes.

Each trial runs in its own worker process (``python -m chronicon_mlx.tools.bench_worker``) so
that the BLAS choice, the model load and the peak memory belong to that trial alone; the
worker writes its numbers to a JSON file. Nothing here prints.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..backends import missing_modules
from ..machine import is_apple_silicon, nvidia_gpu_present
from ..options.choices import DEFAULT_PROMPT

STAGES = (
    "import",
    "load",
    "sample",
    "preprocess",
    "vision",
    "prefill",
    "generate",
    "end_to_end",
    "setup",
    "exit",
)
REFERENCE_TIMEOUT_S = 600.0
BENCH_PROMPT = DEFAULT_PROMPT


@dataclass(frozen=True)
class BenchConfig:
    """One way to run: backend, device, dtype, and (MLX on Linux) which BLAS."""

    backend: str
    device: str
    dtype: str = "auto"
    blas: str = "auto"
    quantize: str = "none"
    """The weights' quantization (``int8`` on the cpu engine)."""
    int8: str = "auto"
    """The cpu engine's 8-bit kernel (``auto``, ``fbgemm``, ``torch``)."""

    @property
    def label(self) -> str:
        """A short name for tables."""
        text = "cpu engine" if self.backend == "cpu" else f"{self.backend} {self.device}"
        if self.quantize != "none":
            text += f" {self.quantize}"
            if self.int8 != "auto":
                text += f" ({self.int8} kernel)"
        elif self.backend == "cpu":
            text += " float32"
        if self.dtype != "auto":
            text += f" {self.dtype}"
        if self.blas == "reference":
            text += " (reference BLAS)"
        return text


def config_key(config: BenchConfig) -> str:
    """How `--backends` names a configuration: cpu, cpu-int8, cpu-int8-fbgemm, transformers,
    mlx, mlx-reference (devices other than the CPU: transformers-cuda, mlx-mps, ...)."""
    key = (
        config.backend if config.device in ("cpu", "auto") else f"{config.backend}-{config.device}"
    )
    if config.quantize != "none":
        key += f"-{config.quantize}"
        if config.int8 != "auto":
            key += f"-{config.int8}"
    if config.blas == "reference":
        key += "-reference"
    return key


@dataclass
class Availability:
    """Whether a configuration can run here, and why not."""

    config: BenchConfig
    available: bool
    reason: str = ""


@dataclass
class Trial:
    """One run of one configuration."""

    config: BenchConfig
    ok: bool
    stages: dict[str, float] = field(default_factory=dict)
    prompt_tokens: int = 0
    generated_tokens: int = 0
    decode_tps: float = 0.0
    peak_memory_gb: float = 0.0
    details: dict[str, Any] = field(default_factory=dict)
    error: str = ""


def plan(include_reference_blas: bool = False) -> list[Availability]:
    """Every configuration worth comparing, with whether it can run on this machine."""
    have_torch = not missing_modules("transformers")
    have_mlx = not missing_modules("mlx")
    torch_reason = "torch/transformers not installed (pip install 'chronicon-mlx[torch]')"
    out: list[Availability] = []
    apple = is_apple_silicon()
    mlx_gpu = "mps" if apple else "cuda"
    out.append(Availability(BenchConfig("cpu", "cpu"), have_torch, torch_reason))
    out.append(Availability(BenchConfig("cpu", "cpu", quantize="int8"), have_torch, torch_reason))
    fbgemm = have_torch and _fbgemm()
    fbgemm_int8 = BenchConfig("cpu", "cpu", quantize="int8", int8="fbgemm")
    out.append(Availability(fbgemm_int8, fbgemm, "" if fbgemm else "this torch has no fbgemm"))
    out.append(Availability(BenchConfig("mlx", "cpu"), have_mlx, "" if have_mlx else "no mlx"))
    if include_reference_blas and sys.platform == "linux":
        out.append(Availability(BenchConfig("mlx", "cpu", blas="reference"), have_mlx))
    gpu_ok, gpu_reason = have_mlx and _mlx_gpu(), "MLX has no GPU device here"
    out.append(Availability(BenchConfig("mlx", mlx_gpu), gpu_ok, "" if gpu_ok else gpu_reason))
    out.append(Availability(BenchConfig("transformers", "cpu"), have_torch, torch_reason))
    for device in ("mps", "cuda"):
        if not have_torch:
            out.append(Availability(BenchConfig("transformers", device), False, torch_reason))
            continue
        ok = _torch_device(device)
        why = "" if ok else f"torch sees no {device.upper()} device"
        out.append(Availability(BenchConfig("transformers", device), ok, why))
    for item in out:
        if item.available:
            item.reason = ""
    return out


def _fbgemm() -> bool:
    """Whether the cpu engine can run its 8-bit products in fbgemm here."""
    from ..engine.dynamic import available

    return available()


def _mlx_gpu() -> bool:
    code = "import mlx.core as mx; print(int(mx.is_available(mx.gpu)))"
    probe = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    return probe.stdout.strip() == "1"


def _torch_device(device: str) -> bool:
    if device == "cuda" and not nvidia_gpu_present():
        return False
    if device == "mps" and not is_apple_silicon():
        return False
    import torch

    if device == "cuda":
        return bool(torch.cuda.is_available())
    return bool(torch.backends.mps.is_available())


def bench_clip() -> Path:
    """The bench's clip (10 s, 640x360, generated once into the cache folder)."""
    from ..media.synthetic import write_sample_video
    from ..paths import cache_root

    path = cache_root() / "bench" / "clip_10s_640x360.mp4"
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        write_sample_video(path, seconds=10, fps=30, size=(640, 360))
    return path


def _job_config(config: BenchConfig) -> dict[str, Any]:
    """`config` as a job's JSON: backend, device and the fields not at their default (so
    that a worker of an earlier revision, with fewer fields, reads it too)."""
    default = asdict(BenchConfig(config.backend, config.device))
    return {
        k: v for k, v in asdict(config).items() if k in ("backend", "device") or v != default[k]
    }


def run_trial(
    config: BenchConfig,
    model: Path,
    video: Path,
    frames: int,
    tokens: int,
    bare_mlx: bool = False,
    timeout: float = 3600,
    source: Path | None = None,
) -> Trial:
    """Run one trial in a fresh worker process and read its JSON result; `source`: a
    source tree to run the worker from instead of the installed package (the worker then
    starts in its temporary folder, so that no package in this one shadows it)."""
    env = dict(os.environ)
    if source is not None:
        env["PYTHONPATH"] = str(source)
    with tempfile.TemporaryDirectory(prefix="chronicon-bench-") as tmp:
        out = Path(tmp) / "trial.json"
        job = {
            "config": _job_config(config),
            "model": str(Path(model).resolve()),
            "video": str(Path(video).resolve()),
            "frames": frames,
            "tokens": tokens,
            "bare_mlx": bare_mlx,
            "output": str(out),
        }
        command = [sys.executable, "-m", "chronicon_mlx.tools.bench_worker", json.dumps(job)]
        job["launched_at"] = time.time()
        command[-1] = json.dumps(job)
        try:
            proc = subprocess.run(
                command,
                capture_output=True,
                text=True,
                env=env,
                timeout=timeout,
                cwd=None if source is None else tmp,
            )
        except subprocess.TimeoutExpired:
            return Trial(
                config,
                ok=False,
                error=f"timed out after {timeout:.0f} s",
                details={"longer_than_s": timeout},
            )
        if proc.returncode != 0 or not out.is_file():
            tail = (proc.stderr or proc.stdout).strip().splitlines()
            return Trial(config, ok=False, error=tail[-1] if tail else f"exit {proc.returncode}")
        data = json.loads(out.read_text())
        ended = time.time()
    data["stages"]["exit"] = max(0.0, ended - data.pop("answered_at"))
    return Trial(config=config, ok=True, **{k: v for k, v in data.items() if k != "config"})


def run_engine(
    mode: str, model: Path, video: Path, frames: int, tokens: int, quantize: str = "none"
) -> dict[str, Any]:
    """One of the cpu engine's measurements (``batch`` or ``drift``, see bench_engine) in a
    fresh worker process; {"error": ...} when it fails."""
    with tempfile.TemporaryDirectory(prefix="chronicon-bench-") as tmp:
        out = Path(tmp) / "result.json"
        job = {
            "mode": mode,
            "config": {"backend": "cpu", "device": "cpu", "quantize": quantize},
            "model": str(Path(model).resolve()),
            "video": str(Path(video).resolve()),
            "frames": frames,
            "tokens": tokens,
            "output": str(out),
        }
        command = [sys.executable, "-m", "chronicon_mlx.tools.bench_worker", json.dumps(job)]
        proc = subprocess.run(command, capture_output=True, text=True, timeout=3600)
        if proc.returncode != 0 or not out.is_file():
            tail = (proc.stderr or proc.stdout).strip().splitlines()
            return {"error": tail[-1] if tail else f"exit {proc.returncode}"}
        result: dict[str, Any] = json.loads(out.read_text())
    return result


def run(
    configs: Sequence[BenchConfig],
    model: Path,
    video: Path,
    frames: int,
    tokens: int,
    runs: int,
    reference_runs: int = 1,
    progress: Callable[[str], None] | None = None,
    reference_timeout: float = REFERENCE_TIMEOUT_S,
) -> list[Trial]:
    """One warm-up per configuration, then `runs` trials interleaved across configurations.

    The reference-BLAS configuration (many minutes per trial) gets `reference_runs` trials,
    no warm-up, and a time limit; a trial stopped there counts as "longer than the limit".
    The first MLX trial also times a bare mlx_vlm.generate on identical inputs.
    """
    trials: list[Trial] = []

    def note(message: str) -> None:
        if progress is not None:
            progress(message)

    for config in configs:
        if config.blas != "reference":
            note(f"warm-up: {config.label}")
            run_trial(config, model, video, frames, tokens)
    for index in range(runs):
        for config in configs:
            if config.blas == "reference" and index >= reference_runs:
                continue
            note(f"run {index + 1}/{runs}: {config.label}")
            reference = config.blas == "reference"
            bare = config.backend == "mlx" and not reference and index == 0
            limit = reference_timeout if reference else 3600.0
            trials.append(run_trial(config, model, video, frames, tokens, bare, limit))
    return trials


def summarize(trials: Sequence[Trial]) -> list[dict[str, Any]]:
    """Median and min of every stage per configuration (successful trials only)."""
    rows: list[dict[str, Any]] = []
    labels: dict[str, BenchConfig] = {t.config.label: t.config for t in trials}
    for label, config in labels.items():
        done = [t for t in trials if t.config == config and t.ok]
        failed = [t for t in trials if t.config == config and not t.ok]
        row: dict[str, Any] = {"config": asdict(config), "label": label, "trials": len(done)}
        if failed:
            row["errors"] = sorted({t.error for t in failed})
            limits = [t.details["longer_than_s"] for t in failed if "longer_than_s" in t.details]
            if limits:
                row["end_to_end_longer_than_s"] = max(limits)
        if done:
            for stage in STAGES:
                values = [t.stages.get(stage, 0.0) for t in done]
                row[stage] = {"median": statistics.median(values), "min": min(values)}
            tps = [t.decode_tps for t in done]
            row["decode_tps"] = {"median": statistics.median(tps), "max": max(tps)}
            peaks = [t.peak_memory_gb for t in done]
            row["peak_memory_gb"] = {"median": statistics.median(peaks), "max": max(peaks)}
            row["prompt_tokens"] = done[0].prompt_tokens
            row["generated_tokens"] = done[0].generated_tokens
            row["details"] = done[0].details
            ours = [t.details["ours_generate_s"] for t in done if "ours_generate_s" in t.details]
            bare = [
                t.details["bare_mlx_vlm_generate_s"]
                for t in done
                if "bare_mlx_vlm_generate_s" in t.details
            ]
            if ours and bare:
                row["wrapper_overhead"] = {
                    "ours_s": statistics.median(ours),
                    "bare_s": statistics.median(bare),
                    "fraction": (statistics.median(ours) - statistics.median(bare))
                    / statistics.median(ours),
                }
        rows.append(row)
    return rows


def chart(rows: Sequence[dict[str, Any]], path: Path, title: str) -> Path:
    """A PNG of each configuration's median stage times, side by side (needs matplotlib)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ready = [r for r in rows if r.get("trials")]
    parts = ("import", "load", "sample", "preprocess", "vision", "prefill", "generate")
    colours = dict(zip(parts, plt.get_cmap("tab10").colors, strict=False))
    fig, ax = plt.subplots(figsize=(10, 1.6 + 0.7 * len(ready)))
    for y, row in enumerate(ready):
        left = 0.0
        for part in parts:
            width = row.get(part, {}).get("median", 0.0)
            ax.barh(y, width, left=left, color=colours[part], label=part if y == 0 else None)
            left += width
        ax.text(left, y, f" {row['end_to_end']['median']:.1f} s end to end", va="center")
    ax.set_yticks(range(len(ready)), [r["label"] for r in ready])
    ax.set_xlabel("seconds (median of the runs)")
    ax.set_title(title)
    ax.margins(x=0.25)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.25), ncol=len(parts), fontsize="small")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
