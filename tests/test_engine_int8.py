"""The engine's 8-bit products: fbgemm's dynamic linear with each row quantized on its own
(a row's result is the same alone and in a batch, bit for bit), and how the tuning picks
the kernel."""

from __future__ import annotations

from typing import Any

import pytest

from chronicon_mlx.engine import EngineTuning, dynamic
from chronicon_mlx.engine.linear import Linear

pytestmark = [
    pytest.mark.torch,
    pytest.mark.skipif(not dynamic.available(), reason="this torch has no fbgemm"),
]


def _weights(out: int, width: int, seed: int = 0) -> tuple[Any, Any, Any]:
    import torch

    generator = torch.Generator().manual_seed(seed)
    weight = torch.randn(out, width, generator=generator) * 0.05
    scales = weight.abs().amax(dim=1) / 127
    return weight, torch.round(weight / scales[:, None]).to(torch.int8), scales


@pytest.mark.parametrize("reduce_range", [False, True])
def test_each_row_gets_the_same_result_alone_and_in_any_batch(reduce_range: bool) -> None:
    """Rows of very different sizes, in batches of 1 to 24 (past the kept buffers' 16
    rows): every row's outputs equal its outputs alone, to the bit."""
    import torch

    _, quantized, scales = _weights(48, 40)
    product = dynamic.DynamicProduct(quantized, scales, reduce_range)
    generator = torch.Generator().manual_seed(1)
    sizes = torch.logspace(-3, 3, 24)[:, None]
    x = torch.randn(24, 40, generator=generator) * sizes
    alone = torch.cat([product(x[n : n + 1]) for n in range(24)])
    for rows in (2, 5, 16, 17, 24):
        assert torch.equal(product(x[:rows]), alone[:rows])
    assert torch.equal(product(x[3:9]), alone[3:9])
    # The kept buffers serve products inside torch's inference mode and outside it.
    with torch.inference_mode():
        inside = product(x[:7] * 2)
    assert torch.equal(product(x[:7] * 2), inside)


def test_the_product_stays_within_8_bit_rounding_of_float32() -> None:
    """Against the float32 product of the unquantized weights: within 2% of each row's
    largest output (weights and activations each rounded to 8 bits)."""
    import torch

    weight, quantized, scales = _weights(96, 64)
    product = dynamic.DynamicProduct(quantized, scales, reduce_range=False)
    x = torch.randn(6, 64, generator=torch.Generator().manual_seed(2))
    exact = x @ weight.T
    error = (product(x) - exact).abs().amax(dim=1)
    assert bool((error <= 0.02 * exact.abs().amax(dim=1)).all())
    # A row of zeros gives zeros (its scale is floored, never divided by zero).
    assert torch.equal(product(torch.zeros(2, 64)), torch.zeros(2, 96))


def test_a_linear_layer_runs_its_8_bit_product_in_the_kernel_the_tuning_chose() -> None:
    """The same int8 weights through torch's weight-only kernel and fbgemm's: both near the
    float32 product, not the same numbers (fbgemm also rounds the activations)."""
    import torch

    weight, _, _ = _weights(64, 32)
    x = torch.randn(3, 32, generator=torch.Generator().manual_seed(3))
    outputs = {}
    for kernel in ("torch", "fbgemm"):
        kernels = EngineTuning(int8=kernel).resolved()
        assert kernels.int8 == kernel
        outputs[kernel] = Linear(weight, None, kernels, int8=True)(x)
    exact = x @ weight.T
    for out in outputs.values():
        assert float((out - exact).abs().max()) <= 0.02 * float(exact.abs().max())
    assert not torch.equal(outputs["torch"], outputs["fbgemm"])


def test_auto_runs_torchs_kernel_and_fbgemm_keeps_7_bit_inputs_without_vnni(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`auto` runs torch's weight-only kernel; fbgemm, asked for, sums in 32 bits where the
    CPU has VNNI and keeps its inputs to 7 bits where it has not; without fbgemm, asking for
    it is an error."""
    assert EngineTuning().resolved().int8 == "torch"
    for has_vnni in (True, False):
        monkeypatch.setattr(dynamic, "vnni", lambda has=has_vnni: has)
        kernels = EngineTuning(int8="fbgemm").resolved()
        assert (kernels.int8, kernels.reduce_range) == ("fbgemm", not has_vnni)
    monkeypatch.setattr(dynamic, "available", lambda: False)
    with pytest.raises(ValueError, match="fbgemm"):
        EngineTuning(int8="fbgemm").resolved()
    assert EngineTuning(int8="torch").resolved().int8 == "torch"


def test_the_python_api_runs_the_kernel_its_tuning_names(
    tiny_model: Any, ball_clip: Any, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`SessionSpec(tuning=Tuning(int8="fbgemm"))` answers with fbgemm's kernel and says so
    in the result; the default says torch's."""
    from chronicon_mlx.analysis.analyze import Analyzer
    from chronicon_mlx.analysis.params import GenerationConfig
    from chronicon_mlx.analysis.spec import SessionSpec
    from chronicon_mlx.backends.base import Tuning

    monkeypatch.setenv("CHRONICON_CACHE", str(tmp_path / "cache"))
    generation = GenerationConfig(max_tokens=4)
    for kernel, recorded in (("auto", "torch"), ("fbgemm", "fbgemm")):
        spec = SessionSpec(
            model=str(tiny_model), backend="cpu", quantize="int8", tuning=Tuning(int8=kernel)
        )
        result = Analyzer(spec).analyze(ball_clip, "What moves?", generation=generation)
        assert result.quantization == "int8"
        assert result.backend_details["int8"].split()[0] == recorded
        assert result.usage.generated_tokens == 4
