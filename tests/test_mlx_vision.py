"""Vision encoding over parallel MLX CPU streams, on the tiny checkpoint."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from chronicon_mlx.backends import Candidate, GenerationRequest, Tuning, create, mlx_vision
from chronicon_mlx.model import prompt as prompts
from chronicon_mlx.model.resolver import resolve


@pytest.mark.parametrize(
    ("count", "groups", "expected"),
    [
        (8, 2, [(0, 4), (4, 8)]),
        (5, 2, [(0, 3), (3, 5)]),
        (7, 3, [(0, 3), (3, 5), (5, 7)]),
        (3, 8, [(0, 1), (1, 2), (2, 3)]),
        (1, 4, [(0, 1)]),
        (6, 1, [(0, 6)]),
    ],
)
def test_split_cuts_contiguous_near_equal_ranges(
    count: int, groups: int, expected: list[tuple[int, int]]
) -> None:
    assert mlx_vision.split(count, groups) == expected


@pytest.mark.parametrize(("asked", "expected"), [(3, 3), (1, 1), (0, None), (None, None)])
def test_stream_count_comes_from_the_tuning_else_the_cores(
    asked: int | None, expected: int | None
) -> None:
    assert mlx_vision.stream_count(asked) == (expected or mlx_vision.usable_cores())


def _load(tiny_model: Path, streams: int, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    backend = create(Candidate("mlx", "cpu"), tuning=Tuning(vision_streams=streams))
    backend.load(resolve(str(tiny_model)))
    return backend


def _request(tiny_model: Path) -> GenerationRequest:
    rng = np.random.default_rng(7)
    frames = [rng.integers(0, 255, (48, 64, 3), dtype=np.uint8) for _ in range(6)]
    times = [float(i) for i in range(6)]
    text = prompts.build_prompt(prompts.load_chat_template(tiny_model), "What?", times, 6.0)
    return GenerationRequest(frames, text, max_tokens=16, ignore_eos=True)


@pytest.mark.mlx
@pytest.mark.slow
def test_frames_are_encoded_in_groups_with_the_same_tokens(
    tiny_model: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    single = _load(tiny_model, 1, monkeypatch)
    parallel = _load(tiny_model, 3, monkeypatch)
    assert single.info.details["vision_streams"] == "1"
    assert parallel.info.details["vision_streams"] == "3"
    assert not isinstance(single._model.vision_model, mlx_vision.ParallelVision)
    stand_in = parallel._model.vision_model
    assert isinstance(stand_in, mlx_vision.ParallelVision)
    # The tower stays in the module tree: the same parameters as a plain load.
    assert sorted(k for k, _ in parallel._model.parameters().items()) == sorted(
        k for k, _ in single._model.parameters().items()
    )

    batches: list[int] = []
    tower_call = stand_in.tower.__class__.__call__

    def counting(self, x, *args, **kwargs):  # type: ignore[no-untyped-def]
        batches.append(int(x.shape[0]))
        return tower_call(self, x, *args, **kwargs)

    monkeypatch.setattr(stand_in.tower.__class__, "__call__", counting)
    request = _request(tiny_model)
    expected = single.generate(request)
    batches_single = list(batches)
    batches.clear()
    got = parallel.generate(request)
    assert batches_single == [6]
    assert batches == [2, 2, 2]
    assert got.token_ids == expected.token_ids
    assert len(got.token_ids) == 16
    assert got.prompt_tokens == expected.prompt_tokens


def test_blas_threads_are_limited_then_restored() -> None:
    import subprocess
    import sys

    code = (
        "import ctypes; from chronicon_mlx.native import blas; name = blas.preload();"
        " get = ctypes.CDLL(None).openblas_get_num_threads; before = get()\n"
        "with blas.threads(1): inside = get()\n"
        "print(name, before, inside, get())"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    name, before, inside, after = out.stdout.split()
    assert name.startswith("libopenblas")
    assert int(inside) == 1
    assert int(after) == int(before) >= 1


@pytest.mark.mlx
def test_the_stand_in_answers_for_the_tower(
    tiny_model: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    backend = _load(tiny_model, 2, monkeypatch)
    stand_in = backend._model.vision_model
    tower = backend._model["vision_model"]
    assert stand_in.tower is tower
    assert stand_in.encoder is tower.encoder
    assert len(stand_in.streams) == 2
