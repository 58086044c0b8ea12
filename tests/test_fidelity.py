"""The prompt exactly as SmolVLM2 expects: with SmolVLM2's real tokenizer, chat template and
processor files, the ids both backends feed the model equal those of transformers' own
SmolVLMProcessor on the same frames (its video path, with a stand-in video processor that
hands it the frames: the real one needs torchvision)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from chronicon_mlx.backends import Candidate, GenerationRequest, create
from chronicon_mlx.model import prompt
from chronicon_mlx.model.resolver import resolve

pytestmark = [pytest.mark.slow, pytest.mark.mlx, pytest.mark.torch]
FPS = 30.0


@pytest.fixture(scope="module", params=["256m", "2.2b"])
def layout(
    request: pytest.FixtureRequest, real_files_checkpoint: Callable[[str], Path]
) -> tuple[Path, list[Any]]:
    """A real-files checkpoint and both backends loaded on it."""
    folder = real_files_checkpoint(request.param)
    ref = resolve(str(folder))
    backends = [create(Candidate(name, "cpu")) for name in ("mlx", "transformers")]
    for backend in backends:
        backend.load(ref)
    return folder, backends


def _reference_ids(
    folder: Path,
    frames: list[Any],
    indices: list[int],
    duration: float,
    question: str,
    system: str | None,
    monkeypatch: pytest.MonkeyPatch,
) -> list[int]:
    import torch
    from transformers import AutoTokenizer
    from transformers.feature_extraction_utils import BatchFeature
    from transformers.models.smolvlm.image_processing_pil_smolvlm import (
        SmolVLMImageProcessorPil,
    )
    from transformers.models.smolvlm.processing_smolvlm import (
        DEFAULT_CHAT_TEMPLATE,
        SmolVLMProcessor,
    )
    from transformers.processing_utils import ProcessorMixin
    from transformers.video_utils import VideoMetadata

    class StandInVideoProcessor:
        def __call__(self, videos: Any, **kwargs: Any) -> BatchFeature:
            meta = VideoMetadata(
                total_num_frames=indices[-1] + 1,
                fps=FPS,
                duration=duration,
                frames_indices=list(indices),
            )
            pixels = torch.zeros(1, len(videos[0]), 3, 8, 8)
            return BatchFeature({"pixel_values": pixels, "video_metadata": [meta]})

    real_check = ProcessorMixin.check_argument_for_proper_class

    def check(self: Any, name: str, value: Any) -> Any:
        return None if name == "video_processor" else real_check(self, name, value)

    monkeypatch.setattr(ProcessorMixin, "check_argument_for_proper_class", check)
    tokenizer = AutoTokenizer.from_pretrained(folder)
    config = resolve(str(folder))
    processor = SmolVLMProcessor(
        image_processor=SmolVLMImageProcessorPil.from_pretrained(folder),
        tokenizer=tokenizer,
        video_processor=StandInVideoProcessor(),
        image_seq_len=config.tokens_per_frame,
        chat_template=DEFAULT_CHAT_TEMPLATE,
    )
    messages: list[dict[str, Any]] = []
    if system:
        messages.append({"role": "system", "content": [{"type": "text", "text": system}]})
    messages.append(
        {"role": "user", "content": [{"type": "video"}, {"type": "text", "text": question}]}
    )
    text = tokenizer.apply_chat_template(
        messages, chat_template=DEFAULT_CHAT_TEMPLATE, tokenize=False, add_generation_prompt=True
    )
    ids: list[int] = processor(text=[text], videos=[frames], return_tensors="pt")["input_ids"][0]
    return [int(i) for i in ids]


@pytest.mark.parametrize(
    ("count", "system"),
    [(1, None), (8, "You are a careful video analyst."), (24, None), (64, "Be brief.")],
)
def test_prompt_ids_equal_transformers_own_processor(
    layout: tuple[Path, list[Any]],
    count: int,
    system: str | None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    folder, backends = layout
    rng = np.random.default_rng(count)
    frames = [rng.integers(0, 255, (288, 512, 3), dtype=np.uint8) for _ in range(count)]
    indices = [12 + 37 * i for i in range(count)]
    duration = (indices[-1] + 40) / FPS
    question = "What happens at 00:12, and who scores?"
    text = prompt.build_prompt(
        prompt.load_chat_template(folder), question, [i / FPS for i in indices], duration, system
    )
    expected = _reference_ids(folder, frames, indices, duration, question, system, monkeypatch)
    ref = resolve(str(folder))
    image_token = 49190
    assert expected.count(image_token) == count * ref.tokens_per_frame
    for backend in backends:
        assert backend.prompt_ids(GenerationRequest(frames, text)) == expected, backend.info.name


def test_pixels_follow_the_video_processor_path(
    layout: tuple[Path, list[Any]], tmp_path: Path
) -> None:
    """No 4x enlargement before squaring: closer to the video processor (imitated with PIL)
    than the image path was."""
    import importlib.util

    from chronicon_mlx.media.decode import sample
    from chronicon_mlx.media.probe import probe
    from chronicon_mlx.media.synthetic import write_sample_video

    folder, backends = layout
    ref = resolve(str(folder))
    mlx, torch_cpu = backends
    processors = [mlx._processor.image_processor, torch_cpu._image_processor]
    for processor in processors:
        assert processor.size.longest_edge == ref.video_edge
        assert processor.do_image_splitting is False
    spec = importlib.util.spec_from_file_location(
        "pixel_check", Path(__file__).parents[1] / "scripts" / "pixel_check.py"
    )
    assert spec is not None and spec.loader is not None
    check = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(check)
    info = probe(write_sample_video(tmp_path / "wide.mp4", seconds=1, fps=10, size=(1280, 720)))
    (full,) = sample(info, [5])
    (shrunk,) = sample(info, [5], ref.frame_size)
    square = processors[1].max_image_size["longest_edge"]
    target = check.reference(full.image, ref.video_edge, square)
    now = np.abs(check.ours(processors[1], shrunk.image, None) - target).mean()
    before = np.abs(check.ours(processors[1], shrunk.image, 4 * square) - target).mean()
    processors[1].size = type(processors[1].size)(longest_edge=ref.video_edge)
    assert now < before
