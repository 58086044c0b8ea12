"""Real generation through mlx-vlm on the tiny checkpoint."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from chronicon_mlx.backends import Candidate, GenerationRequest, create
from chronicon_mlx.model import prompt as prompts
from chronicon_mlx.model.resolver import resolve

pytestmark = [pytest.mark.mlx, pytest.mark.slow]


@pytest.fixture(scope="module")
def backend(tiny_model: Path):  # type: ignore[no-untyped-def]
    backend = create(Candidate("mlx", "cpu"))
    backend.load(resolve(str(tiny_model)))
    return backend


def _request(tiny_model: Path, max_tokens: int = 12, **kwargs: object) -> GenerationRequest:
    rng = np.random.default_rng(1)
    frames = [rng.integers(0, 255, (48, 64, 3), dtype=np.uint8) for _ in range(3)]
    text = prompts.build_prompt(
        prompts.load_chat_template(tiny_model), "What happens?", [0.0, 1.0, 2.0], 3.0
    )
    return GenerationRequest(frames, text, max_tokens=max_tokens, **kwargs)  # type: ignore[arg-type]


def test_float32_on_cpu(backend) -> None:  # type: ignore[no-untyped-def]
    assert backend.info.name == "mlx"
    assert backend.info.device == "cpu"
    assert backend.info.dtype == "float32"


def test_greedy_generation_is_deterministic_and_decodes_to_its_text(
    backend,
    tiny_model: Path,  # type: ignore[no-untyped-def]
) -> None:
    first = backend.generate(_request(tiny_model))
    second = backend.generate(_request(tiny_model))
    assert first.token_ids == second.token_ids
    assert first.generated_tokens == len(first.token_ids) == 12
    assert first.finish_reason == "length"
    assert first.prompt_tokens == len(backend.prompt_ids(_request(tiny_model)))
    decoded = backend._processor.tokenizer.decode(first.token_ids)
    assert first.text == decoded.strip() != ""
    assert set(first.stages) == {"preprocess", "vision", "prefill", "generate"}
    assert first.stages["vision"] > 0 and first.stages["prefill"] > 0
    assert first.peak_memory_gb > 0


def test_tokens_are_streamed_one_by_one(backend, tiny_model: Path) -> None:  # type: ignore[no-untyped-def]
    pieces: list[str] = []
    output = backend.generate(_request(tiny_model, max_tokens=6), pieces.append)
    assert len(pieces) == 6
    assert output.text.startswith("".join(pieces).strip())


def test_frames_change_the_answer(backend, tiny_model: Path) -> None:  # type: ignore[no-untyped-def]
    base = _request(tiny_model)
    other = GenerationRequest(
        [np.full_like(f, 255) for f in base.frames], base.prompt, max_tokens=12
    )
    assert backend.generate(base).token_ids != backend.generate(other).token_ids
