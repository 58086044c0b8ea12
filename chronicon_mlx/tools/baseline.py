"""The baseline of the benchmark: mlx-vlm's own ``python -m mlx_vlm generate --video`` on
the same clip, run as a user would and read from its summary."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from ..native import blas
from .bench import BENCH_PROMPT

BASELINE_TIMEOUT_S = 600.0


@dataclass
class Baseline:
    """mlx-vlm's own `generate --video` on the same clip and frame count.

    A run stopped at its time limit has ``ok`` False and ``stopped`` True; its prompt size
    and prefill progress are read from mlx-vlm's prefill progress bar.
    """

    ok: bool
    wall_s: float = 0.0
    prompt_tokens: int = 0
    generated_tokens: int = 0
    command: list[str] = field(default_factory=list)
    error: str = ""
    stopped: bool = False
    prefilled_tokens: int = 0
    blas: str = "reference"


_PREFILL = re.compile(r"Prefill:[^\r\n]*?(\d+)/(\d+)")


def run_baseline(
    model: Path, video: Path, frames: int, tokens: int, timeout: float = BASELINE_TIMEOUT_S
) -> Baseline:
    """Run `python -m mlx_vlm generate --video ...` as users would, and read its summary.

    On Linux it gets the OpenBLAS our MLX runs use (through ``LD_PRELOAD``), so that the
    comparison is of the video path, not of the BLAS.
    """
    command = _command(model, video, frames, tokens)
    env = dict(os.environ)
    library = blas.find() if sys.platform == "linux" else None
    if library is not None:
        env["LD_PRELOAD"] = " ".join(filter(None, [library, env.get("LD_PRELOAD", "")]))
    used = (
        Path(library).name if library else ("platform" if sys.platform != "linux" else "reference")
    )
    start = time.perf_counter()
    try:
        proc = subprocess.run(command, capture_output=True, text=True, env=env, timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        output = _text(exc.stdout) + _text(exc.stderr)
        progress = _PREFILL.findall(output)
        done, total = (int(progress[-1][0]), int(progress[-1][1])) if progress else (0, 0)
        return Baseline(
            False,
            time.perf_counter() - start,
            total,
            command=command,
            error=f"stopped after {timeout:.0f} s",
            stopped=True,
            prefilled_tokens=done,
            blas=used,
        )
    wall = time.perf_counter() - start
    output = proc.stdout + proc.stderr
    prompt = re.search(r"Prompt: (\d+) tokens", output)
    generated = re.search(r"Generation: (\d+) tokens", output)
    if proc.returncode != 0 or prompt is None:
        tail = output.strip().splitlines()
        return Baseline(
            False, wall, command=command, error=tail[-1] if tail else "failed", blas=used
        )
    return Baseline(
        True,
        wall,
        int(prompt.group(1)),
        int(generated.group(1)) if generated else 0,
        command=command,
        blas=used,
    )


def _command(model: Path, video: Path, frames: int, tokens: int) -> list[str]:
    """mlx-vlm's own video command line for this work, greedy and verbose."""
    options = {
        "--model": str(model),
        "--video": str(video),
        "--video-num-frames": str(frames),
        "--max-tokens": str(tokens),
        "--prompt": BENCH_PROMPT,
        "--temperature": "0",
    }
    flags = [part for pair in options.items() for part in pair]
    return [sys.executable, "-m", "mlx_vlm", "generate", *flags, "--verbose"]


def _text(data: bytes | str | None) -> str:
    if data is None:
        return ""
    return data.decode(errors="replace") if isinstance(data, bytes) else data
