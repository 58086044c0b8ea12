"""Backend choice, fallback, memory check, quantization, and MLX/transformers parity."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

from chronicon_mlx import backends
from chronicon_mlx.analysis.analyze import Analyzer
from chronicon_mlx.analysis.spec import SessionSpec
from chronicon_mlx.backends import Candidate, GenerationRequest, candidates, create
from chronicon_mlx.backends.reuse import frame_key
from chronicon_mlx.cli.app import app
from chronicon_mlx.cli.flags import FLAGS
from chronicon_mlx.errors import BackendError, ChroniconError
from chronicon_mlx.highlight import scoring
from chronicon_mlx.model import memory
from chronicon_mlx.model import prompt as prompts
from chronicon_mlx.model.resolver import resolve
from chronicon_mlx.testing import NoteRecorder

C = Candidate


def cli_message(error: ChroniconError) -> str:
    """The error's message as the command line shows it (settings named by their flags)."""
    return error.rendered(FLAGS)[0]


@pytest.mark.parametrize(
    ("apple", "nvidia", "expected"),
    [
        (True, False, [C("mlx", "mps"), C("transformers", "mps"), C("cpu", "cpu")]),
        (
            False,
            True,
            [
                C("transformers", "cuda"),
                C("mlx", "auto"),
                C("cpu", "cpu"),
                C("transformers", "cpu"),
            ],
        ),
        (False, False, [C("cpu", "cpu"), C("transformers", "cpu"), C("mlx", "cpu")]),
    ],
)
def test_auto_order_per_machine(
    monkeypatch: pytest.MonkeyPatch, apple: bool, nvidia: bool, expected: list[Candidate]
) -> None:
    monkeypatch.setattr(backends, "is_apple_silicon", lambda: apple)
    monkeypatch.setattr(backends, "nvidia_gpu_present", lambda: nvidia)
    assert candidates("auto", "auto") == expected


def test_named_backend_is_the_only_candidate() -> None:
    assert candidates("transformers", "cpu") == [C("transformers", "cpu")]
    assert candidates("auto", "cuda") == [C("transformers", "cuda"), C("mlx", "cuda")]


@pytest.mark.torch
@pytest.mark.parametrize(
    ("cuda", "mps", "expected"), [(True, True, "cuda"), (False, True, "mps"), (False, False, "cpu")]
)
def test_transformers_device_auto_selection(
    monkeypatch: pytest.MonkeyPatch, cuda: bool, mps: bool, expected: str
) -> None:
    import torch

    from chronicon_mlx.backends import transformers_backend as tb

    monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: mps)
    assert tb.resolve_device("auto") == expected
    backend = tb.TransformersBackend()
    assert backend.info.device == expected
    assert backend.info.dtype == {"cuda": "bfloat16", "mps": "float32", "cpu": "float32"}[expected]


@pytest.mark.torch
def test_missing_devices_are_clear_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    import torch

    from chronicon_mlx.backends import transformers_backend as tb

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    with pytest.raises(BackendError) as caught:
        tb.resolve_device("mps")
    assert re.search("--device mps was asked for, but MPS is not", cli_message(caught.value))
    with pytest.raises(BackendError, match="torch sees no CUDA GPU"):
        tb.resolve_device("cuda")


def test_a_named_backend_that_is_not_installed_gives_an_install_hint(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(backends, "missing_modules", lambda name: ["torch"])
    with pytest.raises(BackendError, match="needs torch, which is not installed") as info:
        create(C("transformers", "cpu"))
    assert info.value.hint is not None and "chronicon-mlx[torch]" in info.value.hint


@pytest.fixture(scope="module")
def both(tiny_model: Path) -> tuple[Any, Any]:
    """The MLX and transformers CPU backends, each loaded once with the tiny checkpoint."""
    ref = resolve(str(tiny_model))
    pair = create(C("mlx", "cpu")), create(C("transformers", "cpu"))
    for backend in pair:
        backend.load(ref)
    return pair


def _frames(seed: int, n: int = 6) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 255, (90, 160, 3), dtype=np.uint8) for _ in range(n)]


@pytest.mark.mlx
@pytest.mark.torch
@pytest.mark.slow
def test_mlx_and_transformers_agree_token_for_token(tiny_model: Path, both: Any) -> None:
    mlx, torch_cpu = both
    template = prompts.load_chat_template(tiny_model)
    cases = [
        (0, "What happens?", None),
        (1, "Describe the colours, frame by frame.", "You are a careful analyst."),
        (2, "Count the objects.", "Answer in one word."),
    ]
    for seed, question, system in cases:
        frames = _frames(seed)
        text = prompts.build_prompt(
            template, question, [i * 0.7 for i in range(len(frames))], 4.2, system
        )
        request = GenerationRequest(frames, text, max_tokens=16)
        ids = mlx.prompt_ids(request)
        assert ids == torch_cpu.prompt_ids(request)
        assert ids.count(472) == len(frames) * 4
        a, b = mlx.generate(request), torch_cpu.generate(request)
        assert a.token_ids == b.token_ids
        assert len(a.token_ids) == 16
        assert a.text == b.text
        assert a.prompt_tokens == b.prompt_tokens == len(ids)


def test_prefix_reuse_and_json_constraint_on_both_backends(tiny_model: Path, both: Any) -> None:
    """On both backends the shared prefix's KV cache is reused without changing a token, and
    constrained answers parse, identically."""
    mlx, torch_cpu = both
    template = prompts.load_chat_template(tiny_model)
    system = scoring.system_prompt("You rate sports.", "Rate 1 to 10.")
    answers = []
    for seed in (3, 4):
        frames = _frames(seed)
        text = prompts.build_prompt(
            template, scoring.user_prompt(None), [i * 0.5 for i in range(len(frames))], 3.0, system
        )
        prefix = prompts.shared_prefix(text)
        assert prefix.endswith("User: ") and system in prefix
        plain = GenerationRequest(frames, text, max_tokens=24)
        reused = GenerationRequest(frames, text, max_tokens=24, prefix=prefix)
        for backend in (mlx, torch_cpu):
            full, cached = backend.generate(plain), backend.generate(reused)
            assert cached.token_ids == full.token_ids
            assert cached.cached_tokens > 20 and full.cached_tokens == 0
            assert cached.prompt_tokens == full.prompt_tokens
        constrained = GenerationRequest(
            frames,
            text,
            max_tokens=scoring.CONSTRAINED_MAX_TOKENS,
            prefix=prefix,
            json_schema=scoring.SCHEMA,
        )
        a, b = mlx.generate(constrained), torch_cpu.generate(constrained)
        assert a.constrained and b.constrained
        assert scoring.parse(a.text) is not None and a.text == b.text
        assert scoring.parse(full.text) is None  # unconstrained random weights: not JSON
        answers.append(a.text)
    assert answers[0] != answers[1]


@pytest.mark.mlx
@pytest.mark.torch
def test_forget_drops_what_backends_keep(tiny_model: Path, both: Any) -> None:
    """After forget(), a repeated request encodes every frame and prefills its prefix
    again, with the same tokens as when both were kept."""
    template = prompts.load_chat_template(tiny_model)
    frames = _frames(9, n=3)
    text = prompts.build_prompt(template, "What happens?", [0.0, 0.5, 1.0], 1.5)
    request = GenerationRequest(frames, text, max_tokens=8, prefix=prompts.shared_prefix(text))
    keys = [frame_key(frame) for frame in frames]
    for backend in both:
        backend.forget()
        first = backend.generate(request)
        kept = backend.generate(request)
        assert first.encoded_frames == 3 and kept.encoded_frames == 0
        assert backend.export_features(keys) is not None
        assert backend.export_prefix(request) is not None
        backend.forget()
        assert backend.export_features(keys) is None and backend.export_prefix(request) is None
        again = backend.generate(request)
        assert again.encoded_frames == 3 and backend.export_prefix(request) is not None
        assert first.token_ids == kept.token_ids == again.token_ids


@pytest.mark.torch
def test_cpu_vision_frame_by_frame_equals_the_towers_batch(tiny_model: Path, both: Any) -> None:
    """On the CPU transformers' vision tower runs a frame at a time; each frame's kept
    features equal the tower's own pass over all frames at once."""
    import torch

    _, backend = both
    frames = _frames(11, n=5)
    template = prompts.load_chat_template(tiny_model)
    text = prompts.build_prompt(template, "What happens?", [i * 0.5 for i in range(5)], 2.5)
    backend.forget()
    calls: list[int] = []
    counting = backend._model.model.vision_model.embeddings.patch_embedding.register_forward_hook(
        lambda _m, inputs, _o: calls.append(inputs[0].shape[0])
    )
    out = backend.generate(GenerationRequest(frames, text, max_tokens=2))
    counting.remove()
    assert out.encoded_frames == 5 and calls == [1] * 5
    kept = backend.export_features([frame_key(frame) for frame in frames])
    values, mask = backend._pixels(GenerationRequest(frames, text), list(range(5)))
    with torch.inference_mode():
        batch = backend._model.model.get_image_features(values, mask)
    pooled = getattr(batch, "pooler_output", batch)
    pooled = torch.cat(list(pooled)) if isinstance(pooled, (list, tuple)) else pooled
    whole = pooled.reshape(5, -1, pooled.shape[-1]).numpy()
    assert values.shape[:2] == (1, 5)
    for n in range(5):
        np.testing.assert_allclose(kept[n], whole[n], rtol=1e-5, atol=1e-6)


@pytest.mark.torch
def test_greedy_loop_gives_generates_tokens(tiny_model: Path, both: Any) -> None:
    """The lean greedy loop and model.generate choose the same tokens: plain, with a
    reused prefix, with end-of-sequence ignored (past the room the CPU step reserves in the
    cache at a time) and constrained to JSON; and stream the same pieces."""
    torch_cpu = both[1]
    template = prompts.load_chat_template(tiny_model)
    system = scoring.system_prompt("You rate sports.", "Rate 1 to 10.")
    frames = _frames(7)
    times = [i * 0.5 for i in range(len(frames))]
    text = prompts.build_prompt(template, scoring.user_prompt(None), times, 3.0, system)
    prefix = prompts.shared_prefix(text)
    requests = [
        GenerationRequest(frames, text, max_tokens=20),
        GenerationRequest(frames, text, max_tokens=20, prefix=prefix),
        GenerationRequest(frames, text, max_tokens=300, ignore_eos=True),
        GenerationRequest(
            frames,
            text,
            max_tokens=scoring.CONSTRAINED_MAX_TOKENS,
            prefix=prefix,
            json_schema=scoring.SCHEMA,
        ),
    ]
    try:
        for request in requests:
            outputs = []
            for loop in (True, False):
                torch_cpu.greedy_loop = loop
                pieces: list[str] = []
                outputs.append((torch_cpu.generate(request, pieces.append), pieces))
            (lean, lean_pieces), (reference, reference_pieces) = outputs
            assert lean.token_ids == reference.token_ids and lean.token_ids
            assert lean_pieces == reference_pieces and len(lean_pieces) == len(lean.token_ids)
            assert lean.finish_reason == reference.finish_reason
            assert lean.stages["vision"] >= 0 and lean.stages["prefill"] > 0
        assert scoring.parse(lean.text) is not None
    finally:
        torch_cpu.greedy_loop = True


@pytest.mark.slow
def test_auto_falls_back_when_a_backend_fails_to_load(
    tiny_model: Path, ball_clip: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from chronicon_mlx.backends import cpu_backend, transformers_backend

    def broken(self: Any, model: Any, quantize: Any = None) -> list[str]:
        raise RuntimeError("unsupported op: aten::_upsample_bicubic2d_aa")

    monkeypatch.setattr(backends, "is_apple_silicon", lambda: False)
    monkeypatch.setattr(backends, "nvidia_gpu_present", lambda: False)
    monkeypatch.setattr(cpu_backend.CPUBackend, "load", broken)
    monkeypatch.setattr(transformers_backend.TransformersBackend, "load", broken)
    reporter = NoteRecorder()
    analyzer = Analyzer(SessionSpec(model=str(tiny_model)), reporter=reporter)
    result = analyzer.analyze(ball_clip, "What moves?")
    assert (result.backend, result.device) == ("mlx", "cpu")
    reason = "RuntimeError: unsupported op: aten::_upsample_bicubic2d_aa"
    assert result.fallbacks == [
        {"backend": "cpu", "device": "cpu", "reason": reason},
        {"backend": "transformers", "device": "cpu", "reason": reason},
    ]
    assert f"cpu (cpu) cannot run: {reason}; trying transformers (cpu)" in reporter.notes
    assert f"transformers (cpu) cannot run: {reason}; trying mlx (cpu)" in reporter.notes
    assert result.to_dict()["fallbacks"] == result.fallbacks


@pytest.mark.slow
def test_a_named_backend_never_switches_silently(
    tiny_model: Path, ball_clip: Path, monkeypatch: pytest.MonkeyPatch, in_tmp: Path
) -> None:
    from chronicon_mlx.backends import mlx_backend

    def broken(self: Any, model: Any, quantize: Any = None) -> list[str]:
        raise RuntimeError("unsupported op")

    monkeypatch.setattr(mlx_backend.MLXBackend, "load", broken)
    result = CliRunner().invoke(
        app, ["analyze", str(ball_clip), "-m", str(tiny_model), "--backend", "mlx"]
    )
    assert result.exit_code == 1
    assert result.stderr.splitlines()[0] == (
        "error: the mlx backend failed to load: RuntimeError: unsupported op"
    )
    assert list(in_tmp.iterdir()) == []


def test_memory_estimate_counts_the_real_architectures() -> None:
    from chronicon_mlx.model.catalog import find_spec

    totals = {}
    for alias in ("256m", "500m", "2.2b"):
        spec = find_spec(alias)
        assert spec is not None
        config = {
            "text_config": {**spec.text, "vocab_size": 49280},
            "vision_config": spec.vision,
            "scale_factor": spec.scale_factor,
        }
        lm, vision = memory.parameter_counts(config)
        totals[alias] = (lm + vision) / 1e6
        full = memory.estimate(config, "float32", None, 8, 256)
        small = memory.estimate(config, "float32", "4bit", 8, 256)
        assert full.weights == (lm + vision) * 4
        assert small.weights == pytest.approx(lm * (0.5 + 4 / 64) + vision * 4)
        assert small.vision == full.vision
    assert totals["256m"] == pytest.approx(256, rel=0.03)
    assert totals["500m"] == pytest.approx(507, rel=0.03)
    assert totals["2.2b"] == pytest.approx(2250, rel=0.03)


@pytest.mark.slow
def test_memory_check_refuses_before_loading(
    tiny_model: Path, ball_clip: Path, monkeypatch: pytest.MonkeyPatch, in_tmp: Path
) -> None:
    loads: list[str] = []
    from chronicon_mlx.backends import mlx_backend

    monkeypatch.setattr(mlx_backend.MLXBackend, "load", lambda *a, **k: loads.append("x"))
    monkeypatch.setattr(memory, "available_bytes", lambda device: (8e9, "available RAM"))
    fake = memory.Estimate(weights=99.0e9, vision=0.5e9, kv_cache=0.1e9, overhead=0.4e9)
    monkeypatch.setattr(memory, "estimate", lambda *a, **k: fake)
    result = CliRunner().invoke(
        app, ["analyze", str(ball_clip), "-m", str(tiny_model), "--backend", "mlx"]
    )
    assert result.exit_code == 1
    first, hint = result.stderr.strip().splitlines()[-2:]
    assert "with 8 frames needs about 100.00 GB (weights 99.00 GB, vision 0.50 GB," in first
    assert "KV cache 0.10 GB) but available RAM is 8.00 GB" in first
    assert hint == "hint: use a smaller model (--model 256m), fewer --frames, or --quantize 4bit"
    assert loads == []
    assert list(in_tmp.iterdir()) == []


@pytest.mark.slow
@pytest.mark.mlx
def test_fits_only_quantized_so_4bit_is_chosen_and_cached(
    tiny_model: Path, ball_clip: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("CHRONICON_CACHE", str(tmp_path / "cache"))
    real = memory.estimate

    def estimate(
        config: Any, dtype: str, quantize: Any, frames: int, tokens: int, prompt: Any = None
    ) -> Any:
        base = real(config, dtype, quantize, frames, tokens, prompt)
        extra = {None: 10e9, "8bit": 6e9, "4bit": 1e9}[quantize]
        return memory.Estimate(base.weights + extra, base.vision, base.kv_cache)

    monkeypatch.setattr(memory, "estimate", estimate)
    monkeypatch.setattr(memory, "available_bytes", lambda device: (4e9, "available RAM"))
    reporter = NoteRecorder()
    result = Analyzer(SessionSpec(model=str(tiny_model), backend="mlx"), reporter=reporter).analyze(
        ball_clip, "What moves?"
    )
    assert result.quantization == "4bit"
    assert any("using the 4bit variant" in n for n in reporter.notes)
    assert any(n.startswith("converted 4bit MLX copy") for n in result.notes)
    (folder,) = (tmp_path / "cache" / "quantized").iterdir()
    config = json.loads((folder / "config.json").read_text())
    assert config["quantization"]["bits"] == 4
    again = Analyzer(SessionSpec(model=str(tiny_model), backend="mlx", quantize="4bit")).analyze(
        ball_clip, "What moves?"
    )
    assert any(n.startswith("using the cached 4bit MLX copy") for n in again.notes)


@pytest.mark.torch
@pytest.mark.slow
def test_transformers_quantization_off_cuda_falls_back_to_float32(
    tiny_model: Path, ball_clip: Path
) -> None:
    result = Analyzer(
        SessionSpec(model=str(tiny_model), backend="transformers", device="cpu", quantize="8bit")
    ).analyze(ball_clip, "What moves?")
    assert result.dtype == "float32"
    assert any("8bit needs bitsandbytes on CUDA" in n for n in result.notes)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--backend", "onnx"], "unknown backend 'onnx'"),
        (["--device", "tpu"], "unknown device 'tpu'"),
        (["--dtype", "int3"], "unknown dtype 'int3'"),
        (["--quantize", "3bit"], "unknown quantization '3bit'"),
    ],
)
def test_unknown_backend_options_are_usage_errors(
    tiny_model: Path, ball_clip: Path, in_tmp: Path, args: list[str], message: str
) -> None:
    result = CliRunner().invoke(app, ["analyze", str(ball_clip), "-m", str(tiny_model), *args])
    assert result.exit_code == 2, result.output
    assert message in result.stderr.splitlines()[0]
    assert list(in_tmp.iterdir()) == []


@pytest.mark.parametrize(("setting", "expected"), [("", "libopenblas"), ("reference", "reference")])
def test_mlx_gets_an_optimised_blas_on_linux(setting: str, expected: str) -> None:
    import subprocess
    import sys

    code = (
        f"from chronicon_mlx.native import blas; name = blas.preload({setting or 'auto'!r});"
        " import mlx.core as mx; a = mx.ones((64, 64)); mx.eval(a @ a); print(name)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip().startswith(expected)
