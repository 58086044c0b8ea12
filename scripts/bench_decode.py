"""Where a decoded token's time goes on the cpu engine, against this machine's memory
bandwidth: one sequence, one step over a long prompt's cache, split into the weight products
(every layer's four and the LM head, each one row), attention over the cache, and the rest
(norms, RoPE, residuals, the step's bookkeeping). The float32 and int8 engines are measured
alternately in one process, on the 256M architecture with random weights.

    python scripts/bench_decode.py [--context 690] [--rounds 5] [--steps 30] [--threads 2]

Each part's figure is the median over rounds of the median step in a round. A product's
weights are read once per token: their bytes over the products' time is the rate the
kernels read them at, shown against a 1 GiB float32 sum (the bench's bandwidth probe).
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from rich.console import Console
from rich.table import Table

from chronicon_mlx.engine import Engine, EngineTuning, SequenceCache
from chronicon_mlx.model.random_weights import cached_checkpoint
from chronicon_mlx.model.resolver import resolve
from chronicon_mlx.paths import cache_root
from chronicon_mlx.tools.limits import measure_here

PARTS = ("step", "products", "attention")


def _median_ms(work: Callable[[], Any], steps: int) -> float:
    work()
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        work()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e3


def _parts(engine: Engine, sequence: SequenceCache) -> dict[str, Callable[[], Any]]:
    """The step, its products alone and its attention alone, each a callable."""
    text = engine.text
    weights = text.weights
    products = [
        (linear, torch.randn(1, linear.in_features))
        for layer in weights.layers
        for linear in (layer.qkv, layer.o, layer.gate_up, layer.down)
    ]
    products.append((weights.head, torch.randn(1, weights.head.in_features)))
    shape = text.shape
    query = torch.randn(1, shape.heads, 1, shape.head_dim)
    arrays = sequence.layer_arrays()

    def step() -> None:
        engine.decode([sequence], [5])
        sequence.crop(sequence.length - 1)

    def product_pass() -> None:
        with torch.inference_mode():
            for linear, row in products:
                linear(row)

    def attention_pass() -> None:
        with torch.inference_mode():
            for keys, values in arrays:
                F.scaled_dot_product_attention(
                    query, keys, values, scale=text.scaling, enable_gqa=True
                )

    return {"step": step, "products": product_pass, "attention": attention_pass}


def _engines(context: int) -> dict[str, tuple[Engine, SequenceCache, int]]:
    path = cached_checkpoint("256m")
    config = resolve(str(path)).config
    rng = random.Random(1)
    ids = [rng.randrange(1000) for _ in range(context)]
    out = {}
    for name, int8 in (("float32", False), ("int8", True)):
        engine = Engine(path, config, EngineTuning(), int8=int8, store=cache_root() / "engine")
        sequence = engine.new_sequence(context + 8)
        engine.prefill(sequence, ids)
        out[name] = (engine, sequence, engine.text.weights.decode_bytes)
    return out


def measure(context: int, rounds: int, steps: int) -> dict[str, Any]:
    """Every part of both engines, alternated round by round; and the bandwidth probe."""
    engines = _engines(context)
    callables = {name: _parts(engine, seq) for name, (engine, seq, _) in engines.items()}
    samples: dict[str, dict[str, list[float]]] = {
        name: {part: [] for part in PARTS} for name in engines
    }
    for _ in range(rounds):
        for name, parts in callables.items():
            for part in PARTS:
                samples[name][part].append(_median_ms(parts[part], steps))
    bandwidth = measure_here()["torch_bandwidth"]
    report: dict[str, Any] = {"context": context, "bandwidth_bytes_per_s": bandwidth}
    for name, (_, _, nbytes) in engines.items():
        ms = {part: statistics.median(values) for part, values in samples[name].items()}
        ms["rest"] = ms["step"] - ms["products"] - ms["attention"]
        rate = nbytes / (ms["products"] / 1e3)
        report[name] = {
            "ms": ms,
            "weight_bytes": nbytes,
            "products_bytes_per_s": rate,
            "products_of_bandwidth": rate / bandwidth,
            "tokens_per_s": 1e3 / ms["step"],
        }
    return report


def show(report: dict[str, Any]) -> None:
    """The report as a table."""
    table = Table(title=f"one decode step over {report['context']} cached tokens, ms")
    for column in ("engine", "step", "products", "attention", "rest", "tokens/s", "weights"):
        table.add_column(column, justify="left" if column == "engine" else "right")
    for name in ("float32", "int8"):
        row = report[name]
        ms = row["ms"]
        table.add_row(
            name,
            *(f"{ms[part]:.2f}" for part in ("step", "products", "attention", "rest")),
            f"{row['tokens_per_s']:.1f}",
            f"{row['weight_bytes'] / 1e6:.0f} MB at {row['products_bytes_per_s'] / 1e9:.1f} GB/s"
            f" ({row['products_of_bandwidth']:.0%})",
        )
    console = Console()
    console.print(table)
    console.print(f"bandwidth probe: {report['bandwidth_bytes_per_s'] / 1e9:.1f} GB/s")


def main() -> None:
    """Measure, print, save."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--context", type=int, default=690)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--output", type=Path, default=Path("results/bench_decode.json"))
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    report = measure(args.context, args.rounds, args.steps)
    show(report)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2) + "\n")
    Console().print(f"saved {args.output}", markup=False)


if __name__ == "__main__":
    main()
