"""What this machine's CPU can do at best: memory read bandwidth and float32 GEMM rate,
measured in a fresh process the way the bench's stages run (every core, float32)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from ..model.cost import decode_bytes, vision_flops

GEMM_SIZE = 4096
BANDWIDTH_BYTES = 1 << 30


@dataclass(frozen=True)
class Limits:
    """Best rates measured here: bytes/s read from memory, float32 FLOP/s of a GEMM."""

    bandwidth: float
    gemm_flops: float
    details: dict[str, float]


def _best(work: Callable[[], Any], repeats: int) -> float:
    work()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        work()
        best = min(best, time.perf_counter() - start)
    return best


def measure_here(repeats: int = 3) -> dict[str, float]:
    """Bandwidth (a 1 GiB float32 sum) and GEMM rate (4096³ float32) with numpy and, when
    installed, torch; each the best of `repeats`."""
    import numpy as np

    out: dict[str, float] = {}
    n = GEMM_SIZE
    a = np.random.default_rng(0).standard_normal((n, n), dtype=np.float32)
    b = np.random.default_rng(1).standard_normal((n, n), dtype=np.float32)
    out["numpy_gemm_flops"] = 2 * n**3 / _best(lambda: a @ b, repeats)
    big = np.ones(BANDWIDTH_BYTES // 4, dtype=np.float32)
    out["numpy_bandwidth"] = BANDWIDTH_BYTES / _best(big.sum, repeats)
    del big
    try:
        import torch
    except ImportError:
        return out
    ta, tb = torch.from_numpy(a), torch.from_numpy(b)
    out["torch_gemm_flops"] = 2 * n**3 / _best(lambda: ta @ tb, repeats)
    tbig = torch.ones(BANDWIDTH_BYTES // 4)
    out["torch_bandwidth"] = BANDWIDTH_BYTES / _best(tbig.sum, repeats)
    return out


def measure(timeout: float = 300) -> Limits:
    """Measure in a fresh process; the best library's figure is the limit."""
    command = [sys.executable, "-m", "chronicon_mlx.tools.limits"]
    proc = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=True)
    details: dict[str, float] = json.loads(proc.stdout.strip().splitlines()[-1])
    return Limits(
        bandwidth=max(v for k, v in details.items() if k.endswith("_bandwidth")),
        gemm_flops=max(v for k, v in details.items() if k.endswith("_gemm_flops")),
        details=details,
    )


def against_limits(
    rows: Sequence[dict[str, Any]], config: dict[str, Any], frames: int, limits: Limits
) -> dict[str, Any]:
    """Add to each measured row how close its stages come to what this machine allows:
    vision FLOP/s against the GEMM rate, decode bytes/s against the memory bandwidth, and
    the load without its imports. Returns the limits as the report records them."""
    flops = vision_flops(config, frames)
    for row in rows:
        if not row.get("trials"):
            continue
        details = row.get("details", {})
        weights = str(details.get("weights", ""))
        kind = "int8" if weights.startswith("int8") else str(details.get("dtype", "float32"))
        per_token = decode_bytes(config, kind)
        vision_s = row.get("vision", {}).get("median", 0.0)
        rate = flops / vision_s if vision_s > 0 else 0.0
        tps = row["decode_tps"]["median"]
        row["limits"] = {
            "vision_flops_per_s": rate,
            "vision_of_gemm": rate / limits.gemm_flops,
            "decode_bytes_per_token": per_token,
            "decode_limit_tps": limits.bandwidth / per_token,
            "decode_of_bandwidth": tps * per_token / limits.bandwidth,
            "load_without_imports_s": row.get("load", {}).get("median", 0.0),
            "imports_s": row.get("import", {}).get("median", 0.0),
        }
    return {
        "bandwidth_bytes_per_s": limits.bandwidth,
        "gemm_flops_per_s": limits.gemm_flops,
        "vision_flops": flops,
        "measured": limits.details,
    }


if __name__ == "__main__":
    print(json.dumps(measure_here()))
