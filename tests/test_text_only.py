"""Answers from a cached video with the text model alone: the decode step's weights read
straight from the checkpoint equal the loaded model's, its prefill and RoPE equal
transformers', the tokenizer through the tokenizers library equals transformers', a
text-only backend gives the whole model's tokens, loads the rest when a request needs it,
and a second process answers from the video cache without importing transformers."""

from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from chronicon_mlx.analysis.analyze import Analyzer
from chronicon_mlx.analysis.params import GenerationConfig, SamplingConfig
from chronicon_mlx.analysis.spec import SessionSpec
from chronicon_mlx.analysis.videocache import VideoCache
from chronicon_mlx.backends import Candidate, GenerationRequest, create
from chronicon_mlx.backends.reuse import frame_key
from chronicon_mlx.highlight import scoring
from chronicon_mlx.model import prompt as prompts
from chronicon_mlx.model.resolver import resolve

pytestmark = pytest.mark.torch

SAMPLING = SamplingConfig(frames=4)
GENERATION = GenerationConfig(max_tokens=12, ignore_eos=True)
HIT = "frames, their features and the prefilled prompt read from the video cache"


@pytest.fixture(scope="module")
def loaded(tiny_model: Path) -> Any:
    """The tiny checkpoint loaded whole by transformers on the CPU in float32."""
    backend = create(Candidate("transformers", "cpu"))
    backend.load(resolve(str(tiny_model)))
    return backend


def _frames(count: int) -> list[Any]:
    import numpy as np

    rng = np.random.default_rng(7)
    return [rng.integers(0, 255, (64, 64, 3), dtype=np.uint8) for _ in range(count)]


def test_weights_read_from_the_checkpoint_equal_the_loaded_models(tiny_model: Path) -> None:
    import torch
    from transformers import AutoModelForImageTextToText, DynamicCache

    from chronicon_mlx.backends import torch_decode_step, torch_text_weights

    ref = resolve(str(tiny_model))
    model = AutoModelForImageTextToText.from_pretrained(str(tiny_model), dtype=torch.float32)
    text_model = model.model.text_model
    read = torch_decode_step.DecodeStep(torch_text_weights.from_checkpoint(tiny_model, ref.config))
    cos, sin = read._rotation(0, 4096)
    want_cos, want_sin = text_model.rotary_emb(torch.zeros(1), torch.arange(4096)[None])
    assert torch.equal(want_cos[0], torch.from_numpy(cos))
    assert torch.equal(want_sin[0], torch.from_numpy(sin))

    ids = torch.randint(0, int(ref.config["text_config"]["vocab_size"]), (1, 40))
    with torch.inference_mode():
        reference = DynamicCache(config=model.config.get_text_config())
        text_model(input_ids=ids[:, :30], use_cache=True, cache=reference)
        mine = torch_decode_step.StepCache(len(read.layers))
        theirs = torch_decode_step.StepCache(len(read.layers))
        for n, layer in enumerate(reference.layers):
            mine.update(layer.keys.clone(), layer.values.clone(), n)
            theirs.update(layer.keys.clone(), layer.values.clone(), n)
        hidden = text_model(input_ids=ids[:, 30:], use_cache=True, cache=reference)
        expected = model.lm_head(hidden.last_hidden_state[:, -1])
        prefilled = read.prefill(ids[0, 30:].tolist(), mine)
        assert mine.get_seq_length() == 40
        assert int(prefilled.argmax()) == int(expected.argmax())
        assert torch.allclose(prefilled, expected, atol=1e-5)

        stepped = torch_decode_step.DecodeStep.from_model(model)
        for token in ids[0, 30:].tolist():
            one = stepped(token, theirs)
        assert torch.allclose(one, prefilled, atol=1e-5)
        same = torch_decode_step.StepCache(len(read.layers))
        for n, layer in enumerate(theirs.layers):
            same.update(layer.keys.clone(), layer.values.clone(), n)
        for token in (5, 17, 3):  # the same weights, the same arithmetic: the same logits
            assert torch.equal(stepped(token, theirs), read(token, same))


def test_the_steps_logits_are_the_same_at_any_thread_count(tiny_model: Path) -> None:
    """A one-row product is split over the input (SPLIT parts, whatever the thread count):
    its sum is the plain product's within rounding, and the logits are bitwise the same on
    one thread as on two."""
    import numpy as np
    import torch

    from chronicon_mlx.backends import torch_decode_step, torch_text_weights

    ref = resolve(str(tiny_model))
    step = torch_decode_step.DecodeStep(torch_text_weights.from_checkpoint(tiny_model, ref.config))
    weight = step.layers[0].gate_up
    row = np.random.default_rng(3).standard_normal((1, weight.shape[0]), dtype=np.float32)
    split = step._product(row, weight)
    plain = (torch.from_numpy(row) @ weight).numpy()
    assert split.shape == plain.shape == (1, weight.shape[1])
    np.testing.assert_allclose(split, plain, rtol=1e-5, atol=1e-6)
    assert weight.shape[0] % torch_decode_step.SPLIT == 0  # the split path ran

    threads = torch.get_num_threads()
    logits = []
    try:
        for count in (1, 2):
            torch.set_num_threads(count)
            cache = torch_decode_step.StepCache(len(step.layers))
            step.prefill([1, 2, 3], cache)
            logits.append(torch.stack([step(token, cache)[0] for token in (5, 17, 3, 9)]))
    finally:
        torch.set_num_threads(threads)
    assert torch.equal(logits[0], logits[1])


def test_the_tokenizers_library_encodes_and_decodes_as_transformers(
    tiny_model: Path, loaded: Any
) -> None:
    from chronicon_mlx.backends.torch_support import RawTokenizer

    raw = RawTokenizer(tiny_model / "tokenizer.json")
    template = prompts.load_chat_template(tiny_model)
    for question, system in [
        ("What happens?", None),
        ("Ünïcødé  spaces\n\ttabs <image> [b]x[/b] <end_of_utterance>", "sys\n\n  x"),
        ("  leading", ""),
    ]:
        text = prompts.build_prompt(template, question, [0.0, 0.5, 1.0], 1.5, system)
        expanded = prompts.expand_images(text, 4)
        want = loaded._tokenizer(expanded, add_special_tokens=False)["input_ids"]
        assert raw(expanded)["input_ids"] == want
        assert raw.decode(want) == loaded._tokenizer.decode(want)
    vocab = loaded._tokenizer.vocab_size
    assert all(raw.decode([i]) == loaded._tokenizer.decode([i]) for i in range(vocab))
    ids = [random.Random(3).randrange(vocab) for _ in range(200)]
    assert raw.decode(ids) == loaded._tokenizer.decode(ids)


def test_a_text_only_backend_gives_the_whole_models_tokens(tiny_model: Path, loaded: Any) -> None:
    ref = resolve(str(tiny_model))
    template = prompts.load_chat_template(tiny_model)
    frames = _frames(3)
    times = [0.0, 0.5, 1.0]
    keys = [frame_key(f) for f in frames]
    prefix = prompts.video_prefix(template, times, 1.5)

    def request(question: str, **options: Any) -> GenerationRequest:
        text = prompts.build_prompt(template, question, times, 1.5)
        return GenerationRequest(frames, text, prefix=prefix, frame_keys=keys, **options)

    loaded.forget()
    first = loaded.generate(request("What happens?", max_tokens=8))
    features, state = loaded.export_features(keys), loaded.export_prefix(request("?"))
    assert features is not None and state is not None

    text_only = create(Candidate("transformers", "cpu"))
    assert text_only.text_only_possible(ref, None) and not text_only.text_only_possible(ref, "4bit")
    assert text_only.load_text(ref) == []
    text_only.import_features(keys, features)
    text_only.import_prefix(state)
    answers = []
    for question, options in [
        ("Which colours?", {"max_tokens": 40, "ignore_eos": True}),
        ("What happens?", {"max_tokens": 8}),
    ]:
        pieces: list[str] = []
        alone = text_only.generate(request(question, **options), pieces.append)
        whole = loaded.generate(request(question, **options))
        assert text_only._model is None  # answered by the text model alone
        assert alone.token_ids == whole.token_ids and alone.text == whole.text
        assert len(pieces) == len(alone.token_ids) and alone.encoded_frames == 0
        assert alone.cached_tokens == whole.cached_tokens > 0
        answers.append(alone.token_ids)
    assert answers[1] == first.token_ids

    constrained = request(
        "Rate it.", max_tokens=scoring.CONSTRAINED_MAX_TOKENS, json_schema=scoring.SCHEMA
    )
    rest = text_only.generate(constrained)  # needs the JSON constraint: loads the rest
    assert text_only._model is not None and rest.stages["load"] > 0
    assert rest.token_ids == loaded.generate(constrained).token_ids
    assert rest.encoded_frames == 0  # the kept features and prefix carried over
    again = text_only.generate(request("Which colours?", max_tokens=40, ignore_eos=True))
    assert again.token_ids == answers[0] and again.cached_tokens > 0


def test_a_text_only_session_loads_the_rest_for_a_video_it_has_not_seen(
    tiny_model: Path, ball_clip: Path, coded_clip: Path, tmp_path: Path
) -> None:
    cache = VideoCache(tmp_path / "videos", 10**10)

    def session(video_cache: VideoCache | None) -> Analyzer:
        return Analyzer(
            SessionSpec(model=str(tiny_model), backend="transformers", device="cpu"),
            video_cache=video_cache,
        )

    session(cache).analyze(ball_clip, "What moves?", None, SAMPLING, GENERATION)
    reused = session(cache)
    hit = reused.analyze(ball_clip, "Which colours?", None, SAMPLING, GENERATION)
    backend: Any = reused.load().backend
    assert HIT in hit.notes and backend._model is None and hit.stages["vision"] == 0
    plain = session(None)
    want = plain.analyze(ball_clip, "Which colours?", None, SAMPLING, GENERATION)
    assert hit.analysis == want.analysis

    other = reused.analyze(coded_clip, "What moves?", None, SAMPLING, GENERATION)
    assert backend._model is not None and other.stages["load"] > 0
    assert other.usage.encoded_frames == 4
    assert (
        other.analysis
        == plain.analyze(coded_clip, "What moves?", None, SAMPLING, GENERATION).analysis
    )


_SECOND_PROCESS = """
import json, sys
from pathlib import Path
from chronicon_mlx.analysis.analyze import Analyzer
from chronicon_mlx.analysis.params import GenerationConfig, SamplingConfig
from chronicon_mlx.analysis.videocache import VideoCache
from chronicon_mlx.analysis.spec import SessionSpec
model, folder, clip, question = sys.argv[1:5]
spec = SessionSpec(model=model, backend="transformers", device="cpu")
session = Analyzer(spec, video_cache=VideoCache(Path(folder), 10**10))
result = session.analyze(clip, question, None, SamplingConfig(frames=4),
                         GenerationConfig(max_tokens=12, ignore_eos=True))
print(json.dumps({"analysis": result.analysis, "notes": result.notes, "stages": result.stages,
                  "imported": sorted(m for m in sys.modules if m.split(".")[0] == "transformers")}))
"""


def test_a_second_process_answers_from_the_cache_without_importing_transformers(
    tiny_model: Path, ball_clip: Path, tmp_path: Path
) -> None:
    cache = VideoCache(tmp_path / "videos", 10**10)
    Analyzer(
        SessionSpec(model=str(tiny_model), backend="transformers", device="cpu"), video_cache=cache
    ).analyze(ball_clip, "What moves?", None, SAMPLING, GENERATION)
    command = [
        sys.executable,
        "-c",
        _SECOND_PROCESS,
        str(tiny_model),
        str(cache.root),
        str(ball_clip),
        "Which colours?",
    ]
    done = subprocess.run(command, capture_output=True, text=True, check=True, timeout=300)
    second = json.loads(done.stdout)
    assert second["imported"] == [] and HIT in second["notes"]
    assert second["stages"]["load"] > 0 and second["stages"].get("vision", 0) == 0
    plain = Analyzer(SessionSpec(model=str(tiny_model), backend="transformers", device="cpu"))
    want = plain.analyze(ball_clip, "Which colours?", None, SAMPLING, GENERATION)
    assert second["analysis"] == want.analysis
