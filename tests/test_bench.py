"""The benchmark: summaries, availability, and one real (tiny) run through the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from chronicon_mlx.cli.app import app
from chronicon_mlx.tools import bench
from chronicon_mlx.tools.baseline import _PREFILL, Baseline, run_baseline
from chronicon_mlx.tools.bench import BenchConfig, Trial


def _trial(config: BenchConfig, e2e: float, ok: bool = True) -> Trial:
    stages = {
        "load": 1.0,
        "sample": 0.1,
        "preprocess": 0.2,
        "prefill": e2e / 2,
        "generate": 2.0,
        "end_to_end": e2e,
    }
    return Trial(config, ok, stages, 600, 64, 32.0, 1.5, {}, "" if ok else "boom")


def test_summary_takes_median_and_min_of_successful_trials() -> None:
    mlx, torch_cpu = BenchConfig("mlx", "cpu"), BenchConfig("transformers", "cpu")
    trials = [_trial(mlx, e) for e in (10.0, 12.0, 11.0)] + [
        _trial(torch_cpu, 20.0),
        _trial(torch_cpu, 0.0, ok=False),
    ]
    rows = {row["label"]: row for row in bench.summarize(trials)}
    assert rows["mlx cpu"]["trials"] == 3
    assert rows["mlx cpu"]["end_to_end"] == {"median": 11.0, "min": 10.0}
    assert rows["mlx cpu"]["prefill"] == {"median": 5.5, "min": 5.0}
    assert rows["transformers cpu"]["trials"] == 1
    assert rows["transformers cpu"]["errors"] == ["boom"]


def test_plan_lists_unavailable_devices_with_a_reason() -> None:
    plan = {item.config.label: item for item in bench.plan(include_reference_blas=True)}
    assert plan["mlx cpu"].available and plan["transformers cpu"].available
    assert plan["mlx cpu (reference BLAS)"].available
    assert not plan["transformers cuda"].available
    assert plan["transformers cuda"].reason == "torch sees no CUDA device"
    assert not plan["transformers mps"].available


@pytest.mark.slow
def test_bench_command_end_to_end(tiny_model: Path, tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    result = CliRunner().invoke(
        app,
        [
            "bench",
            "-m",
            str(tiny_model),
            "--runs",
            "1",
            "-t",
            "6",
            "-f",
            "4",
            "-o",
            str(out),
            "--video",
            str(_clip(tmp_path)),
        ],
    )
    assert result.exit_code == 0, result.output
    report = json.loads(out.read_text())
    rows = {row["label"]: row for row in report["results"]}
    for label in ("mlx cpu", "transformers cpu", "cpu engine float32", "cpu engine int8"):
        assert rows[label]["trials"] == 1
        assert rows[label]["generated_tokens"] == 6  # end-of-sequence ignored
        assert rows[label]["prompt_tokens"] == rows["mlx cpu"]["prompt_tokens"]
    assert rows["mlx cpu"]["details"]["blas"].startswith("libopenblas")
    assert "fraction" in rows["mlx cpu"]["wrapper_overhead"]
    assert rows["transformers cuda"]["reason"] == "torch sees no CUDA device"
    baseline = report["baseline"]
    assert baseline["ok"] and baseline["prompt_tokens"] > rows["mlx cpu"]["prompt_tokens"]
    assert out.with_suffix(".png").read_bytes()[:4] == b"\x89PNG"
    assert "not available here: torch sees no CUDA device" in result.stdout
    assert report["random_weights"] is True
    assert rows["cpu engine int8"]["details"]["weights"] == "int8 text, bfloat16 vision"
    assert rows["cpu engine float32"]["details"]["weights"] == "float32"
    for label in ("cpu engine float32", "mlx cpu"):
        row = rows[label]
        assert 0 < row["setup"]["median"] < row["end_to_end"]["median"]
        assert row["exit"]["median"] >= 0
    limits = report["limits"]
    assert limits["bandwidth_bytes_per_s"] > 1e8 and limits["gemm_flops_per_s"] > 1e8
    for label in ("mlx cpu", "transformers cpu", "cpu engine float32", "cpu engine int8"):
        mark = rows[label]["limits"]
        assert mark["vision_flops_per_s"] > 0 and mark["decode_of_bandwidth"] > 0
        assert mark["imports_s"] > 0 and mark["load_without_imports_s"] > 0
    assert "of bandwidth" in result.stdout
    engine = report["engine"]
    for weights in ("none", "int8"):
        rows_ = engine[f"batch_{weights}"]["rows"]
        assert [row["sequences"] for row in rows_] == [1, 2, 4, 8]
        assert all(row["same_as_solo"] and row["decode_tps"] > 0 for row in rows_)
        assert [row["tokens"] for row in rows_] == [6, 12, 24, 48]
    drift = engine["drift"]
    assert drift["positions"] == 4 * 6 and 0.5 <= drift["top1_agreement"] <= 1.0
    from chronicon_mlx.engine.dynamic import available

    kernels = [kernel["kernel"] for kernel in drift["kernels"]]
    assert sorted(k.split()[0] for k in kernels) == (
        ["fbgemm", "torch"] if available() else ["torch"]
    )
    assert all(kernel["positions"] == 24 for kernel in drift["kernels"])
    assert drift["kernel"] == kernels[0]


def test_the_work_of_the_256m_architecture() -> None:
    """SigLIP over 8 frames at 512 px is about 1.7 TFLOP; one decoded token reads about
    0.54 GB of float32 text weights (half in bfloat16)."""
    from chronicon_mlx.model.catalog import find_spec
    from chronicon_mlx.model.cost import decode_bytes, vision_flops

    spec = find_spec("256m")
    assert spec is not None
    text = {**spec.text, "vocab_size": 49280}
    config = {"text_config": text, "vision_config": spec.vision, "scale_factor": spec.scale_factor}
    assert 1.6e12 < vision_flops(config, 8) < 1.8e12
    assert vision_flops(config, 16) == 2 * vision_flops(config, 8)
    assert 0.5e9 < decode_bytes(config, "float32") < 0.6e9
    assert decode_bytes(config, "bfloat16") == decode_bytes(config, "float32") / 2


def _clip(folder: Path) -> Path:
    from chronicon_mlx.media.synthetic import write_sample_video

    return write_sample_video(folder / "clip.mp4", seconds=2, fps=15, size=(160, 90))


def test_a_stopped_reference_trial_is_a_lower_bound() -> None:
    reference = BenchConfig("mlx", "cpu", blas="reference")
    stopped = Trial(
        reference, False, error="timed out after 900 s", details={"longer_than_s": 900.0}
    )
    (row,) = bench.summarize([stopped])
    assert row["trials"] == 0 and row["end_to_end_longer_than_s"] == 900.0


@pytest.mark.slow
def test_the_mlx_vlm_baseline_is_stopped_at_its_limit_with_its_progress(
    tiny_model: Path, tmp_path: Path
) -> None:
    baseline = run_baseline(tiny_model, _clip(tmp_path), 4, 6, timeout=0.5)
    assert not baseline.ok and baseline.stopped
    assert baseline.error == "stopped after 0 s"
    assert 0.5 <= baseline.wall_s < 10
    assert baseline.blas.startswith("libopenblas")


def test_the_prefill_bar_gives_the_prompt_size_of_a_stopped_baseline() -> None:
    bar = (
        "Prefill:   0%|          | 0/6926 [00:00<?, ?tok/s]\r"
        "Prefill:  15%|#5        | 1024/6926 [05:11<29:54,  3.29tok/s]\r"
        "Prefill:  30%|###       | 2048/6926 [10:38<25:21,  3.21tok/s]"
    )
    assert _PREFILL.findall(bar)[-1] == ("2048", "6926")


def test_the_table_shows_a_stopped_baseline_as_a_lower_bound() -> None:
    from rich.console import Console

    from chronicon_mlx.cli.bench import bench_table

    report = {
        "model_name": "SmolVLM2-256M",
        "random_weights": True,
        "frames": 8,
        "tokens": 64,
        "runs": 5,
        "results": [],
        "baseline": Baseline(
            False,
            600.2,
            6926,
            error="stopped after 600 s",
            stopped=True,
            prefilled_tokens=2048,
            blas="libopenblasp-r0-59ffcd50.3.15.so",
        ).__dict__,
    }
    console = Console(width=250, record=True)
    console.print(bench_table(report))
    text = console.export_text()
    assert "> 600" in text
    assert "stopped after 600 s, BLAS libopenblasp; 2048 of 6926 prompt tokens prefilled" in text
