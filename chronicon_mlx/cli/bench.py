"""`chronicon-mlx bench`: every backend on this machine, side by side."""

from __future__ import annotations

import json
import platform
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import typer
from rich.table import Table
from rich.text import Text

from .. import __version__, machine
from ..errors import UsageError
from ..text import printable
from ..tools.baseline import BASELINE_TIMEOUT_S
from ..tools.bench import REFERENCE_TIMEOUT_S
from . import options
from .common import handle_errors
from .render import line, print_saved, stderr_console


def _cell(row: dict[str, Any], stage: str) -> str:
    value = row.get(stage)
    if not value:
        return ""
    return f"{value['median']:.2f} ({value['min']:.2f})"


def _note(row: dict[str, Any]) -> str:
    parts = []
    blas = row.get("details", {}).get("blas")
    if blas:
        parts.append(f"BLAS {blas.split('-')[0]}")
    streams = row.get("details", {}).get("vision_streams", "1")
    if streams != "1":
        parts.append(f"vision on {streams} streams")
    overhead = row.get("wrapper_overhead")
    if overhead:
        parts.append(f"overhead vs bare mlx_vlm.generate {overhead['fraction'] * 100:+.1f}%")
    return "; ".join(parts)


def _add(table: Table, *values: str | Text) -> None:
    """A row whose text is shown as it is (error messages may hold brackets)."""
    table.add_row(*(v if isinstance(v, Text) else Text(printable(v)) for v in values))


def bench_table(report: dict[str, Any]) -> Table:
    """Median (min) seconds per stage, decode speed and peak memory per configuration."""
    weights = "random weights" if report["random_weights"] else "real weights"
    table = Table(
        title=f"{report['model_name']} ({weights}), {report['frames']} frames,"
        f" {report['tokens']} tokens, {report['runs']} runs",
        title_justify="left",
        caption="seconds: median (min); decode tokens/s: median; peak memory: max",
    )
    for column in (
        "backend",
        "import",
        "load",
        "sample",
        "preprocess",
        "vision",
        "prefill",
        "decode tok/s",
        "end to end",
        "setup",
        "exit",
        "peak GB",
        "prompt tokens",
        "note",
    ):
        table.add_column(column, justify="left" if column in ("backend", "note") else "right")
    for row in report["results"]:
        if not row.get("trials") and "end_to_end_longer_than_s" in row:
            limit = row["end_to_end_longer_than_s"]
            cells = [""] * 7 + [f"> {limit:.0f}", "", "", "", ""]
            _add(table, row["label"], *cells, f"stopped after {limit:.0f} s")
            continue
        if not row.get("trials"):
            continue  # listed under the table (`unavailable`)
        _add(
            table,
            row["label"],
            _cell(row, "import"),
            _cell(row, "load"),
            _cell(row, "sample"),
            _cell(row, "preprocess"),
            _cell(row, "vision"),
            _cell(row, "prefill"),
            f"{row['decode_tps']['median']:.1f}",
            _cell(row, "end_to_end"),
            _cell(row, "setup"),
            _cell(row, "exit"),
            f"{row['peak_memory_gb']['max']:.2f}",
            str(row["prompt_tokens"]),
            _note(row),
        )
    baseline = report.get("baseline")
    if baseline:
        _add(table, "mlx-vlm generate --video", *_baseline_cells(baseline))
    return table


def unavailable(report: dict[str, Any]) -> list[Text]:
    """A line for each configuration that did not run here, with why."""
    lines = []
    for row in report["results"]:
        if not row.get("trials") and "end_to_end_longer_than_s" not in row:
            reason = row.get("reason") or "; ".join(row.get("errors", [])) or "failed"
            lines.append(Text(f"{row['label']}: not available here: {reason}", "dim"))
    return lines


def _baseline_cells(baseline: dict[str, Any]) -> list[str]:
    blas = baseline.get("blas", "")
    with_blas = f", BLAS {blas.split('-')[0]}" if blas.startswith("libopenblas") else ""
    tokens = str(baseline["prompt_tokens"] or "")
    if baseline.get("ok"):
        wall = f"{baseline['wall_s']:.2f}"
        note = f"one run, wall time of the command{with_blas}"
    elif baseline.get("stopped"):
        wall = f"> {baseline['wall_s']:.0f}"
        note = f"{baseline['error']}{with_blas}"
        if baseline["prompt_tokens"]:
            note += f"; {baseline['prefilled_tokens']} of {tokens} prompt tokens prefilled"
    else:
        return [""] * 12 + [f"failed: {baseline.get('error', '')}"]
    return [""] * 7 + [wall, "", "", "", tokens, note]


def limits_table(report: dict[str, Any]) -> Table:
    """Each configuration's stages against this machine's limits."""
    limits = report["limits"]
    table = Table(
        title=f"Against this machine's limits: memory bandwidth"
        f" {limits['bandwidth_bytes_per_s'] / 1e9:.1f} GB/s, float32 GEMM"
        f" {limits['gemm_flops_per_s'] / 1e9:.0f} GFLOP/s",
        title_justify="left",
        caption=f"vision: {limits['vision_flops'] / 1e12:.2f} TFLOP for"
        f" {report['frames']} frames; decode: the weights one token reads",
    )
    for column in (
        "backend",
        "load without imports",
        "imports",
        "vision GFLOP/s",
        "of GEMM",
        "decode tok/s",
        "limit tok/s",
        "of bandwidth",
    ):
        table.add_column(column, justify="left" if column == "backend" else "right")
    for row in report["results"]:
        mark = row.get("limits")
        if not mark:
            continue
        _add(
            table,
            row["label"],
            f"{mark['load_without_imports_s']:.2f} s",
            f"{mark['imports_s']:.2f} s",
            f"{mark['vision_flops_per_s'] / 1e9:.0f}",
            f"{mark['vision_of_gemm'] * 100:.0f}%",
            f"{row['decode_tps']['median']:.1f}",
            f"{mark['decode_limit_tps']:.1f}",
            f"{mark['decode_of_bandwidth'] * 100:.0f}%",
        )
    return table


def engine_table(extras: dict[str, Any]) -> Table:
    """The cpu engine's batched decode and its int8 drift."""
    drift = extras.get("drift", {})
    caption = (
        "\n".join(
            f"int8 ({kernel['kernel']}) against float32 over {kernel['positions']} positions:"
            f" top-1 agreement {kernel['top1_agreement'] * 100:.1f}%, largest logit"
            f" difference {kernel['max_logit_difference']:.3f}"
            for kernel in drift.get("kernels", [drift])
        )
        if "positions" in drift
        else f"int8 drift: {drift.get('error', 'not measured')}"
    )
    table = Table(title="cpu engine: batched decode", title_justify="left", caption=caption)
    for column in ("weights", "sequences", "aggregate tok/s", "of one sequence", "answers"):
        table.add_column(column, justify="left" if column == "weights" else "right")
    for key in ("batch_none", "batch_int8"):
        result = extras.get(key, {})
        rows = result.get("rows", [])
        if not rows:
            _add(table, key.removeprefix("batch_"), "", "", "", result.get("error", ""))
            continue
        one = rows[0]["decode_tps"] or 1.0
        for row in rows:
            same = "same as solo" if row["same_as_solo"] else "DIFFER from solo"
            _add(
                table,
                result["weights"],
                str(row["sequences"]),
                f"{row['decode_tps']:.1f}",
                f"{row['decode_tps'] / one:.2f}x",
                same,
            )
    return table


def bench_command(
    model: str = options.value(
        "256m", "--model", "-m", help="An alias, Hub id or folder.", metavar="MODEL"
    ),
    random_weights: bool = options.flag(
        "--random-weights",
        help="Build (once, offline) and use a checkpoint with the alias's real architecture"
        " and random weights.",
    ),
    video: Path | None = options.value(
        None,
        "--video",
        help="The clip to use.",
        metavar="FILE",
        shown="a generated 10 s 640x360 clip",
    ),
    frames: int = options.value(8, "--frames", "-f", help="Frames per run.", metavar="N"),
    tokens: int = options.value(
        64, "--tokens", "-t", help="Tokens generated per run (EOS off).", metavar="N"
    ),
    runs: int = options.value(
        5, "--runs", help="Trials per backend, after one warm-up.", metavar="N"
    ),
    reference_blas: bool = options.flag(
        "--reference-blas",
        help="Also run MLX with mlx-cpu's bundled reference BLAS (Linux; one slow trial).",
    ),
    reference_timeout: float = options.value(
        REFERENCE_TIMEOUT_S,
        "--reference-timeout",
        metavar="SECONDS",
        help="Seconds before the reference-BLAS trial is stopped.",
    ),
    baseline: bool = typer.Option(
        True,
        "--baseline/--no-baseline",
        help="Also time mlx-vlm's own `generate --video`.",
        metavar="",
    ),
    baseline_timeout: float = options.value(
        BASELINE_TIMEOUT_S,
        "--baseline-timeout",
        metavar="SECONDS",
        help="Seconds before mlx-vlm's `generate --video` is stopped.",
    ),
    output: Path | None = options.value(
        None, "--output", "-o", help="JSON report.", metavar="FILE", shown="results/bench.json"
    ),
    chart_path: Path | None = options.value(
        None, "--chart", help="PNG chart.", metavar="FILE", shown="beside the JSON report"
    ),
    backends: str | None = options.value(
        None,
        "--backends",
        metavar="LIST",
        help="Only these configurations (comma-separated): cpu, cpu-int8, cpu-int8-fbgemm,"
        " transformers, mlx, mlx-reference, or one on a device such as transformers-cuda.",
        shown="every one this machine runs",
    ),
    engine: bool = typer.Option(
        True,
        "--engine/--no-engine",
        help="Also measure the cpu engine's batched decode (1, 2, 4, 8 sequences) and int8"
        " drift from float32.",
        metavar="",
    ),
    as_json: bool = options.flag("--json", help="Print the JSON report on stdout."),
    quiet: bool = options.QUIET,
) -> None:
    """Run the same analysis on every backend here: per-stage medians, a JSON report, a chart."""
    console = stderr_console(quiet)
    with handle_errors(console):
        from ..analysis.params import GenerationConfig, SamplingConfig
        from ..files import atomic_write_text
        from ..model.catalog import find_spec
        from ..model.random_weights import cached_checkpoint
        from ..model.resolver import resolve
        from ..tools import bench, limits
        from ..tools.baseline import run_baseline as baseline_run

        SamplingConfig(frames=frames)
        GenerationConfig(max_tokens=tokens)
        if runs < 1:
            raise UsageError("--runs must be at least 1", hint="5 runs give a stable median")
        if random_weights:
            spec = find_spec(model)
            if spec is None:
                raise UsageError(
                    "--random-weights needs an alias", hint="use --model 256m, 500m or 2.2b"
                )
            console.print(line(f"building or reusing a random-weight {spec.name} checkpoint"))
            model_path = cached_checkpoint(spec.alias)
        else:
            # The original checkpoint loads in mlx-vlm and transformers alike.
            model_path = resolve(model, prefer_mlx=False).path
        ref = resolve(str(model_path))
        if video is None:
            video = bench.bench_clip()
        plan = bench.plan(include_reference_blas=reference_blas)
        if backends is not None:
            wanted = {key.strip() for key in backends.split(",") if key.strip()}
            known = {bench.config_key(item.config) for item in plan}
            if not wanted or wanted - known:
                raise UsageError(
                    f"unknown --backends {', '.join(sorted(wanted - known)) or backends!r}",
                    hint=f"choose from {', '.join(sorted(known))}",
                )
            plan = [item for item in plan if bench.config_key(item.config) in wanted]
        configs = [item.config for item in plan if item.available]
        started = datetime.now(timezone.utc)
        with console.status("benchmarking") as status:
            trials = bench.run(
                configs,
                model_path,
                video,
                frames,
                tokens,
                runs,
                progress=status.update,
                reference_timeout=reference_timeout,
            )
            base = None
            if baseline and any(c.backend == "mlx" for c in configs):
                status.update("baseline: python -m mlx_vlm generate --video")
                base = baseline_run(model_path, video, frames, tokens, baseline_timeout)
            status.update("measuring this machine's memory bandwidth and GEMM rate")
            measured = limits.measure()
            extras: dict[str, Any] = {}
            if engine and any(c.backend == "cpu" for c in configs):
                for quantize in ("none", "int8"):
                    status.update(f"the cpu engine's batched decode ({quantize})")
                    extras[f"batch_{quantize}"] = bench.run_engine(
                        "batch", model_path, video, frames, tokens, quantize
                    )
                status.update("int8 drift from float32")
                extras["drift"] = bench.run_engine("drift", model_path, video, frames, tokens)
        results = bench.summarize(trials)
        marks = limits.against_limits(results, ref.config, frames, measured)
        for item in plan:
            if not item.available:
                results.append({"label": item.config.label, "trials": 0, "reason": item.reason})
        report = {
            "chronicon_version": __version__,
            "date": started.isoformat(timespec="seconds"),
            "machine": machine.describe(),
            "platform": platform.platform(),
            "model": str(model_path),
            "model_name": ref.spec.name if ref.spec else ref.name,
            "random_weights": ref.random_weights,
            "video": str(video),
            "frames": frames,
            "tokens": tokens,
            "runs": runs,
            "results": results,
            "limits": marks,
            "baseline": None if base is None else base.__dict__,
            "engine": extras,
        }
        target = output or Path("results") / "bench.json"
        atomic_write_text(target, json.dumps(report, indent=2) + "\n")
        png: Path | None = chart_path or target.with_suffix(".png")
        try:
            title = f"{report['model_name']}, {frames} frames, {tokens} tokens"
            bench.chart(results, png or target.with_suffix(".png"), title)
        except ImportError:
            console.print(
                line(("note:", "yellow"), " no chart: pip install 'chronicon-mlx[bench]'")
            )
            png = None
        if as_json:
            typer.echo(json.dumps(report, indent=2))
        else:
            from rich.console import Console

            out = Console()
            if not out.is_terminal:
                out = Console(width=240)
            out.print(bench_table(report))
            for missing in unavailable(report):
                out.print(missing)
            out.print(limits_table(report))
            if extras:
                out.print(engine_table(extras))
        if ref.random_weights:
            console.print(
                line(("note:", "yellow"), " random weights: speed is real, the output is noise")
            )
        print_saved(console, [target, png] if png else [target])
