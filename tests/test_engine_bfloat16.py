"""The int8 engine's bfloat16 arithmetic: the vision tower's products within bfloat16's
rounding of float32's, the widened fallback in float32 arithmetic, prompt rows against the
8-bit weights widened to bfloat16, and how the tuning picks each."""

from __future__ import annotations

from typing import Any

import pytest

from chronicon_mlx.engine import EngineTuning, tuning
from chronicon_mlx.engine.linear import Linear

pytestmark = pytest.mark.torch


def _kernels(linear: str) -> Any:
    if linear == "onednn" and tuning.onednn_linear() is None:
        pytest.skip("this torch has no oneDNN linear operator")
    return EngineTuning(linear=linear).resolved()  # type: ignore[arg-type]


def _layer(seed: int = 0) -> tuple[Any, Any, Any]:
    import torch

    generator = torch.Generator().manual_seed(seed)
    weight = torch.randn(96, 64, generator=generator) * 0.1
    bias = torch.randn(96, generator=generator) * 0.1
    return weight, bias, torch.randn(5, 64, generator=generator)


@pytest.mark.parametrize("linear", ["onednn", "torch"])
@pytest.mark.parametrize("gelu", [False, True])
def test_bfloat16_products_round_like_bfloat16_and_keep_their_inputs_dtype(
    linear: str, gelu: bool
) -> None:
    """float32 rows give float32 results within bfloat16's rounding of the float32 product
    (its GELU included); bfloat16 rows give bfloat16 results, the same numbers."""
    import torch

    kernels = _kernels(linear)
    weight, bias, x = _layer()
    full = Linear(weight, bias, kernels, gelu=gelu)(x)
    layer = Linear(weight, bias, kernels, gelu=gelu, bfloat16=True)
    assert layer.dtype == torch.bfloat16
    out = layer(x)
    assert out.dtype == torch.float32
    error = float((out - full).abs().max())
    assert 0 < error <= 2e-2 * float(full.abs().max())
    kept = layer(x.bfloat16())
    assert kept.dtype == torch.bfloat16
    assert torch.equal(kept.float(), out)
    assert torch.equal(layer.dequantized(), weight.bfloat16().float())


def test_without_onednns_bfloat16_products_torchs_own_run_them(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Where oneDNN has no bfloat16 products on this CPU, a bfloat16 layer tuned for oneDNN
    keeps its weights unpacked and gives exactly torch's own bfloat16 product."""
    import torch

    from chronicon_mlx.engine import linear as linear_module

    weight, bias, x = _layer(2)
    monkeypatch.setattr(linear_module, "onednn_bfloat16", lambda: False)
    layer = Linear(weight, bias, _kernels("onednn"), gelu=True, bfloat16=True)
    assert not layer.packed
    plain = Linear(weight, bias, _kernels("torch"), gelu=True, bfloat16=True)
    assert torch.equal(layer(x), plain(x))


@pytest.mark.parametrize("linear", ["onednn", "torch"])
def test_widened_bfloat16_weights_multiply_in_float32(linear: str) -> None:
    """Widened, bfloat16 weights give exactly the float32 product over the same weights
    rounded to bfloat16, in float32."""
    import torch

    kernels = _kernels(linear)
    weight, bias, x = _layer(1)
    layer = Linear(weight, bias, kernels, gelu=True, bfloat16=True, widen=True)
    assert layer.weight.dtype == torch.bfloat16
    assert layer.dtype == torch.float32
    rounded = Linear(weight.bfloat16().float(), bias, kernels, gelu=True)
    assert torch.equal(layer(x), rounded(x))


def test_auto_multiplies_in_bfloat16_only_where_the_cpu_does_it_itself(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`auto` picks bfloat16 where the CPU has bfloat16 instructions, float32 elsewhere;
    either can be asked for; anything else is an error."""
    from chronicon_mlx import machine

    for native in (True, False):
        monkeypatch.setattr(tuning, "native_bfloat16", lambda n=native: n)
        expected = "bfloat16" if native else "float32"
        assert EngineTuning().resolved().int8_vision == expected
        for asked in ("bfloat16", "float32"):
            assert EngineTuning(int8_vision=asked).resolved().int8_vision == asked
    with pytest.raises(ValueError, match="int8_vision must be one of"):
        EngineTuning(int8_vision="float16").resolved()  # type: ignore[arg-type]
    monkeypatch.undo()
    tuning.native_bfloat16.cache_clear()
    monkeypatch.setattr(machine, "cpu_flags", lambda: frozenset({"avx2", "avx512f"}))
    assert not tuning.native_bfloat16()
    tuning.native_bfloat16.cache_clear()


def test_the_python_api_runs_and_records_the_towers_arithmetic(
    tiny_model: Any, ball_clip: Any, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`Tuning(int8_vision=...)` reaches the int8 engine's tower and the result records it;
    the video cache keeps each arithmetic's frame features apart (a second run in the same
    arithmetic encodes nothing, the other arithmetic encodes every frame); an unknown one
    stops with a backend error."""
    from chronicon_mlx.analysis.analyze import Analyzer
    from chronicon_mlx.analysis.params import GenerationConfig
    from chronicon_mlx.analysis.spec import SessionSpec
    from chronicon_mlx.backends.base import Tuning
    from chronicon_mlx.errors import BackendError

    monkeypatch.setenv("CHRONICON_CACHE", str(tmp_path / "cache"))
    generation = GenerationConfig(max_tokens=4)
    default = "bfloat16" if tuning.native_bfloat16() else "float32"
    runs = [("bfloat16", "bfloat16", True), ("float32", "float32", True)]
    runs += [("bfloat16", "bfloat16", False), ("auto", default, False)]
    for asked, recorded, encodes in runs:
        spec = SessionSpec(
            model=str(tiny_model),
            backend="cpu",
            quantize="int8",
            cache_gb=1.0,
            tuning=Tuning(int8_vision=asked),
        )
        result = Analyzer(spec).analyze(ball_clip, "What moves?", generation=generation)
        assert result.backend_details["int8_vision"] == recorded
        assert result.backend_details["weights"] == "int8 text, bfloat16 vision"
        assert result.usage.encoded_frames == (len(result.frames) if encodes else 0)
    spec = SessionSpec(
        model=str(tiny_model), backend="cpu", quantize="int8", tuning=Tuning(int8_vision="f16")
    )
    with pytest.raises(BackendError, match="int8_vision must be one of"):
        Analyzer(spec).analyze(ball_clip, "What moves?", generation=generation)


def test_prompt_rows_multiply_in_bfloat16_against_the_8_bit_weights(tiny_model: Any) -> None:
    """With `int8_prompts="bfloat16"`, a prompt's rows give results within bfloat16's
    rounding of the 8-bit kernel's (not the same numbers), the same greedy answer, and the
    record says so; a decode step's single rows take the 8-bit kernel either way."""
    import torch

    from chronicon_mlx.engine import Engine
    from chronicon_mlx.model.resolver import resolve

    ref = resolve(str(tiny_model))
    engines = {
        name: Engine(tiny_model, ref.config, EngineTuning(int8_prompts=name), int8=True)
        for name in ("int8", "bfloat16")
    }
    ids = list(range(7, 47))
    logits, sequences = {}, {}
    for name, engine in engines.items():
        assert engine.record()["int8_prompts"] == name
        sequences[name] = engine.new_sequence()
        logits[name] = engine.prefill(sequences[name], ids)
    difference = float((logits["int8"] - logits["bfloat16"]).abs().max())
    assert 0 < difference <= 3e-2 * float(logits["int8"].abs().max())
    assert int(logits["int8"].argmax()) == int(logits["bfloat16"].argmax())
    row = engines["int8"].text.embed([9])
    layer = engines["bfloat16"].text.weights.layers[0].qkv
    assert torch.equal(layer(row), layer(row, prompt=False))
    assert not torch.equal(layer(row, prompt=True), layer(row))


def test_the_products_take_each_prompt_chunk_apart_and_single_rows_together() -> None:
    """A forward's rows as the products take them: runs of single rows in one call, each
    prompt chunk of several rows in its own."""
    from chronicon_mlx.engine.text import _spans

    rows: list[Any] = [(None, 1), (None, 1), (None, 5), (None, 1), (None, 3), (None, 2)]
    assert _spans(rows) == [
        (0, 2, False),
        (2, 7, True),
        (7, 8, False),
        (8, 11, True),
        (11, 13, True),
    ]
    single: list[Any] = [(None, 1)]
    assert _spans(single) == [(0, 1, False)]


def test_auto_multiplies_prompts_in_bfloat16_with_torchs_kernel_where_the_cpu_does(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`auto` multiplies prompts in bfloat16 with torch's 8-bit kernel on a CPU with bfloat16
    instructions, through the 8-bit kernel elsewhere and with fbgemm's; either can be asked
    for; anything else is an error."""
    from chronicon_mlx.engine import dynamic

    for native in (True, False):
        monkeypatch.setattr(tuning, "native_bfloat16", lambda n=native: n)
        assert EngineTuning().resolved().int8_prompts == ("bfloat16" if native else "int8")
        for asked in ("bfloat16", "int8"):
            assert EngineTuning(int8_prompts=asked).resolved().int8_prompts == asked
    monkeypatch.setattr(tuning, "native_bfloat16", lambda: True)
    if dynamic.available():
        assert EngineTuning(int8="fbgemm").resolved().int8_prompts == "int8"
    with pytest.raises(ValueError, match="int8_prompts must be one of"):
        EngineTuning(int8_prompts="float16").resolved()  # type: ignore[arg-type]
