"""The cpu engine against its reference, transformers' SmolVLM2: weights laid out from the
checkpoint, the KV cache's pages, the vision tower and each text layer within float32
rounding, greedy tokens identical (plain, over a cached prefix, past 300 tokens, constrained
to JSON) on the tiny checkpoint and on the 256M architecture, batches equal to solo runs,
8-bit weights within bounds, and a cached video answered without the vision tower or any
transformers import."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from chronicon_mlx.analysis.analyze import Analyzer
from chronicon_mlx.analysis.params import GenerationConfig, SamplingConfig
from chronicon_mlx.analysis.spec import SessionSpec
from chronicon_mlx.analysis.videocache import VideoCache
from chronicon_mlx.backends import Candidate, GenerationRequest, create
from chronicon_mlx.engine import PAGE, Engine, EngineTuning, SequenceCache, supported
from chronicon_mlx.engine.dynamic import available
from chronicon_mlx.highlight import scoring
from chronicon_mlx.model import prompt as prompts
from chronicon_mlx.model.random_weights import cached_checkpoint
from chronicon_mlx.model.resolver import resolve
from chronicon_mlx.testing import NoteRecorder

pytestmark = pytest.mark.torch
HIT = "frames, their features and the prefilled prompt read from the video cache"


# The 8-bit kernels this machine runs: torch's everywhere, fbgemm's where torch has it.
INT8_KERNELS = ["torch", *(["fbgemm"] if available() else [])]


def _frames(count: int, seed: int = 7, size: tuple[int, int] = (72, 128)) -> list[Any]:
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 255, (*size, 3), dtype=np.uint8) for _ in range(count)]


@pytest.fixture(scope="module")
def pair(tiny_model: Path) -> tuple[Any, Any]:
    """The tiny checkpoint on the cpu engine and on transformers (CPU, float32)."""
    ref = resolve(str(tiny_model))
    engine, reference = create(Candidate("cpu", "cpu")), create(Candidate("transformers", "cpu"))
    engine.load(ref)
    reference.load(ref)
    return engine, reference


@pytest.fixture(scope="module")
def model_256m() -> Path:
    """SmolVLM2-256M's architecture with random weights (built once, offline)."""
    return cached_checkpoint("256m")


def test_the_weights_are_laid_out_from_the_checkpoint(tiny_model: Path) -> None:
    import torch
    from safetensors.torch import load_file

    ref = resolve(str(tiny_model))
    tensors = load_file(str(tiny_model / "model.safetensors"))
    engine = Engine(tiny_model, ref.config)
    layer, at = engine.text.weights.layers[1], "model.text_model.layers.1."
    names = ("q_proj", "k_proj", "v_proj")
    qkv = torch.cat([tensors[f"{at}self_attn.{n}.weight"] for n in names])
    assert torch.equal(layer.qkv.dequantized(), qkv)
    gate_up = torch.cat([tensors[f"{at}mlp.{n}.weight"] for n in ("gate_proj", "up_proj")])
    assert torch.equal(layer.gate_up.dequantized(), gate_up)
    assert torch.equal(engine.text.weights.head.dequantized(), tensors["lm_head.weight"])
    # float32 products are laid out for oneDNN; the embeddings stay a table of rows
    assert engine.kernels.linear == "onednn" and layer.qkv.packed and layer.down.packed
    assert not engine.text.weights.embed.packed
    ids = torch.tensor([3, 0, 7])
    table = tensors["model.text_model.embed_tokens.weight"]
    assert torch.equal(engine.text.weights.embed.rows(ids), table[ids])
    x = torch.randn(2, layer.qkv.in_features)
    assert torch.allclose(layer.qkv(x), x @ qkv.T, atol=1e-5)
    plain = Engine(tiny_model, ref.config, EngineTuning(linear="torch")).text.weights.layers[1]
    assert not plain.qkv.packed and torch.equal(plain.qkv.weight, qkv)
    quantized = Engine(tiny_model, ref.config, int8=True)
    eight = quantized.text.weights.layers[1].gate_up
    assert eight.weight.dtype == torch.int8 and eight.scales is not None
    error = (eight.dequantized() - gate_up).abs().max(dim=1).values
    assert bool((error <= eight.scales.float() * 0.5 + 1e-7).all())  # half a step at most
    assert quantized.text.weights.decode_bytes < engine.text.weights.decode_bytes / 3
    assert supported(ref.config) is None
    assert "not Llama" in (
        supported({**ref.config, "text_config": {"model_type": "mistral"}}) or ""
    )


def test_the_cache_grows_a_page_at_a_time_and_keeps_what_it_holds() -> None:
    import torch

    cache = SequenceCache(layers=2, kv_heads=3, head_dim=4)
    assert (cache.pages, cache.capacity) == (1, PAGE)
    first = torch.randn(3, PAGE - 1, 4)
    cache.reserve(PAGE - 1)
    for layer in (0, 1):
        cache.write(layer, first, first + 1, 0)
    cache.advance(PAGE - 1)
    cache.reserve(5)  # past the page: one more page, the first kept
    assert cache.pages == 2
    more = torch.randn(3, 5, 4)
    cache.write(1, more, more, PAGE - 1)
    keys, values = cache.write(0, more, more, PAGE - 1)
    cache.advance(5)
    assert keys.shape == (3, PAGE + 4, 4) and torch.equal(keys[:, : PAGE - 1], first)
    assert torch.equal(values[:, : PAGE - 1], first + 1) and torch.equal(keys[:, PAGE - 1 :], more)
    short = cache.fork(10)
    assert (short.length, short.pages) == (10, 1) and cache.length == PAGE + 4
    layers = cache.layer_arrays()
    again = SequenceCache.from_layers([(k.clone(), v.clone()) for k, v in layers])
    assert again.length == cache.length and again.pages == 2
    assert all(torch.equal(a[0], b[0]) for a, b in zip(again.layer_arrays(), layers, strict=True))
    cache.crop(3)
    assert cache.length == 3 and cache.layer_arrays()[0][0].shape[2] == 3


def test_a_prompt_is_prefilled_in_chunks_of_the_tunings_rows(tiny_model: Path) -> None:
    import torch

    ref = resolve(str(tiny_model))
    whole = Engine(tiny_model, ref.config, EngineTuning(prefill_rows=10_000))
    chunked = Engine(tiny_model, ref.config, EngineTuning(prefill_rows=7))
    assert chunked.record()["prefill_rows"] == "7" and Engine(tiny_model, ref.config).record()[
        "prefill_rows"
    ] == str(EngineTuning().prefill_rows)
    ids = torch.randint(0, ref.shape.text.vocab, (30,), generator=torch.Generator().manual_seed(3))
    a, b = whole.new_sequence(), chunked.new_sequence()
    torch.testing.assert_close(
        chunked.prefill(b, ids.tolist()), whole.prefill(a, ids.tolist()), rtol=1e-5, atol=1e-5
    )
    assert a.length == b.length == 30
    # the same arithmetic as 7-row slices driven by hand, not as the whole prompt at once
    c = whole.new_sequence()
    steps = whole.prefill_steps(c, ids.tolist(), [], 7)
    counts, last = [], None
    with contextlib.suppress(StopIteration):
        while True:  # each chunk is handed over, then run alone, as `run_through` does
            chunk = steps.send(last)
            counts.append(chunk.count)
            last = chunk.run()
    assert counts == [7, 7, 7, 7, 2]
    assert torch.equal(b.layer_arrays()[1][0], c.layer_arrays()[1][0])
    assert not torch.equal(a.layer_arrays()[1][0], c.layer_arrays()[1][0])
    for (ka, va), (kb, vb) in zip(a.layer_arrays(), b.layer_arrays(), strict=True):
        torch.testing.assert_close(kb, ka, rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(vb, va, rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="prefill_rows"):
        EngineTuning(prefill_rows=0).resolved()


def test_a_kept_prefix_shares_its_pages_when_a_copy_would_take_as_many() -> None:
    import torch

    cache = SequenceCache(layers=2, kv_heads=3, head_dim=4, pages=2)
    tokens = torch.randn(3, PAGE + 20, 4)
    cache.reserve(PAGE + 20)
    for layer in (0, 1):
        cache.write(layer, tokens, -tokens, 0)
    cache.advance(PAGE + 20)
    kept = cache.prefix(PAGE + 10)  # a copy would take 2 pages too: the same pages, no copy
    assert kept.frozen and kept.length == PAGE + 10
    assert kept.layer_arrays()[1][0].data_ptr() == cache.layer_arrays()[1][0].data_ptr()
    with pytest.raises(ValueError, match="read-only"):
        kept.reserve(1)
    with pytest.raises(ValueError, match="kept as a prefix"):
        cache.crop(PAGE)
    more = torch.randn(3, 5, 4)
    cache.write(0, more, more, PAGE + 20)  # the sequence appends after what is kept
    child = kept.fork()
    assert not child.frozen and child.length == PAGE + 10
    keys = child.layer_arrays()[0][0][0]
    assert torch.equal(keys, tokens[:, : PAGE + 10])
    assert keys.data_ptr() != cache.layer_arrays()[0][0].data_ptr()
    child.reserve(1)
    child.write(0, more[:, :1], more[:, :1], PAGE + 10)  # the child's pages are its own
    assert torch.equal(cache.layer_arrays()[0][0][0, :, PAGE + 10], tokens[:, PAGE + 10])
    short = cache.prefix(10)  # 1 page copied rather than 2 held
    assert not short.frozen and short.pages == 1
    assert torch.equal(short.layer_arrays()[1][1][0], -tokens[:, :10])


@pytest.mark.parametrize("layout", ["tiny", "256m-files", "2.2b-files"])
def test_vision_and_each_text_layer_match_transformers(
    layout: str, tiny_model: Path, real_files_checkpoint: Callable[[str], Path]
) -> None:
    """Frame features and prefill/decode logits within float32 rounding of transformers'
    SmolVLM2, on the tiny checkpoint and the 256M and 2.2B geometries."""
    import torch
    from transformers import AutoModelForImageTextToText

    folder = tiny_model if layout == "tiny" else real_files_checkpoint(layout.split("-")[0])
    ref = resolve(str(folder))
    engine = Engine(folder, ref.config)
    reference = create(Candidate("transformers", "cpu"))
    reference.load(ref)
    frames = _frames(2)
    mine = engine.encode(engine.preprocess(frames))
    values, mask = reference._pixels(GenerationRequest(frames, ""), [0, 1])
    assert torch.equal(engine.preprocess(frames), values[0])  # the same pixels
    with torch.inference_mode():
        out = reference._model.model.get_image_features(values, mask).pooler_output
    theirs = torch.cat(list(out)).reshape(2, ref.tokens_per_frame, -1)
    for a, b in zip(mine, theirs, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=2e-5)
    model = AutoModelForImageTextToText.from_pretrained(str(folder), dtype=torch.float32).eval()
    ids = torch.randint(
        0, ref.shape.text.vocab, (1, 40), generator=torch.Generator().manual_seed(1)
    )
    sequence = engine.new_sequence()
    prefilled = engine.prefill(sequence, ids[0, :36].tolist())
    for token in ids[0, 36:].tolist():
        last = engine.decode([sequence], [token])[0]
    with torch.inference_mode():
        logits = model(input_ids=ids).logits[0]
    torch.testing.assert_close(prefilled, logits[35], rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(last, logits[39], rtol=1e-4, atol=1e-5)


def _requests(template: str, frames: list[Any], long: int = 320) -> list[GenerationRequest]:
    system = scoring.system_prompt("You rate sports.", "Rate 1 to 10.")
    times = [i * 0.5 for i in range(len(frames))]
    text = prompts.build_prompt(template, scoring.user_prompt(None), times, 3.0, system)
    prefix = prompts.shared_prefix(text)
    schema = dict(json_schema=scoring.SCHEMA, max_tokens=scoring.CONSTRAINED_MAX_TOKENS)
    return [
        GenerationRequest(frames, text, max_tokens=24),
        GenerationRequest(frames, text, max_tokens=24, prefix=prefix),
        GenerationRequest(frames, text, max_tokens=long, ignore_eos=True),
        GenerationRequest(frames, text, prefix=prefix, **schema),  # type: ignore[arg-type]
    ]


def test_greedy_tokens_equal_transformers_on_the_tiny_checkpoint(
    tiny_model: Path, pair: tuple[Any, Any]
) -> None:
    engine, reference = pair
    template = prompts.load_chat_template(tiny_model)
    for request in _requests(template, _frames(6)):
        pieces: list[str] = []
        mine = engine.generate(request, pieces.append)
        theirs = reference.generate(request)
        assert mine.token_ids == theirs.token_ids and mine.token_ids
        assert mine.finish_reason == theirs.finish_reason
        assert mine.text == theirs.text
        # Streamed text: whole characters (one split over tokens comes out once complete).
        streamed = "".join(pieces).strip()
        assert 0 < len(pieces) <= len(mine.token_ids) and "\ufffd" not in streamed[-1:]
        assert mine.text.startswith(streamed) and len(streamed) >= len(mine.text) - 1
        assert mine.cached_tokens == theirs.cached_tokens
    assert scoring.parse(mine.text) is not None and mine.constrained


@pytest.mark.slow
def test_greedy_tokens_equal_transformers_on_the_256m_architecture(model_256m: Path) -> None:
    ref = resolve(str(model_256m))
    engine, reference = create(Candidate("cpu", "cpu")), create(Candidate("transformers", "cpu"))
    engine.load(ref)
    reference.load(ref)
    template = prompts.load_chat_template(model_256m)
    for request in _requests(template, _frames(2, size=(180, 320)), long=40):
        assert engine.generate(request).token_ids == reference.generate(request).token_ids


def _tuned(weights: str) -> tuple[EngineTuning, bool]:
    """The tuning for `weights`: float32, or an 8-bit kernel (its prompts through it, or in
    bfloat16 after a "+bfloat16"), and whether it is int8."""
    if weights == "float32":
        return EngineTuning(), False
    kernel, _, prompts = weights.partition("+")
    tuning = EngineTuning(int8=kernel, int8_prompts=prompts or "int8")  # type: ignore[arg-type]
    return tuning, True


@pytest.mark.parametrize("weights", ["float32", *INT8_KERNELS, "torch+bfloat16"])
def test_a_batch_gives_each_sequence_its_solo_tokens(tiny_model: Path, weights: str) -> None:
    """One step advances every sequence (each at its own position); sequences join and
    leave between steps; each one's greedy tokens are those it gets alone (with either
    8-bit kernel: fbgemm's quantizes each row on its own; and with prompts in bfloat16)."""
    from chronicon_mlx.engine import generate

    ref = resolve(str(tiny_model))
    tuning, int8 = _tuned(weights)
    engine = Engine(tiny_model, ref.config, tuning, int8=int8)
    prompts_ids = [list(range(5, 5 + n)) for n in (3, 40, 17, 90)]
    budgets = [30, 12, 45, 20]

    def stream(ids: list[int], budget: int) -> Any:
        sequence = engine.new_sequence()
        s = generate.Stream(sequence, budget, set())
        s.take(engine.prefill(sequence, ids))
        return s

    alone = []
    for ids, budget in zip(prompts_ids, budgets, strict=True):
        s = stream(ids, budget)
        generate.run(engine, [s])
        alone.append(s.tokens)
    streams = [
        stream(ids, budget) for ids, budget in zip(prompts_ids[:2], budgets[:2], strict=True)
    ]
    active = list(streams)
    for _ in range(5):
        active = generate.step(engine, active)
    late = [stream(ids, budget) for ids, budget in zip(prompts_ids[2:], budgets[2:], strict=True)]
    streams += late
    active += late  # joins between steps
    while active:
        active = generate.step(engine, active)
    assert [s.tokens for s in streams] == alone


@pytest.mark.parametrize("weights", ["float32", "torch+bfloat16"])
def test_a_step_runs_prompt_chunks_with_its_decode_rows(tiny_model: Path, weights: str) -> None:
    """Prompt chunks in a decode step's forward: the decode rows' logits are those of the
    step without them, and each chunk's last hidden state, keys and values are those it
    gets run alone, bit for bit (also where int8 multiplies prompts in another
    arithmetic than decode rows)."""
    import torch

    from chronicon_mlx.engine.text import Chunk

    ref = resolve(str(tiny_model))
    tuning, int8 = _tuned(weights)
    engine = Engine(tiny_model, ref.config, tuning, int8=int8)

    def prefilled() -> list[Any]:
        made = [engine.new_sequence() for _ in range(2)]
        for sequence, size in zip(made, (5, 12), strict=True):
            engine.prefill(sequence, list(range(3, 3 + size)))
        return made

    rows = [engine.text.embed(list(range(40, 40 + size))) for size in (6, 11)]
    alone, joined, only = ([engine.new_sequence() for _ in rows] for _ in range(3))
    logits, nothing = engine.step(prefilled(), [7, 8])
    ran = [Chunk(engine.text, sequence, x).run() for sequence, x in zip(alone, rows, strict=True)]
    chunks = [Chunk(engine.text, sequence, x) for sequence, x in zip(joined, rows, strict=True)]
    mixed, lasts = engine.step(prefilled(), [7, 8], chunks)
    assert nothing == [] and torch.equal(mixed, logits)
    assert all(torch.equal(a, b) for a, b in zip(ran, lasts, strict=True))
    for a, b in zip(alone, joined, strict=True):
        assert a.length == b.length and b.length in (6, 11)
        for (ka, va), (kb, vb) in zip(a.layer_arrays(), b.layer_arrays(), strict=True):
            assert torch.equal(ka, kb) and torch.equal(va, vb)
    chunks = [Chunk(engine.text, sequence, x) for sequence, x in zip(only, rows, strict=True)]
    none, lasts = engine.step([], [], chunks)  # chunks without a decode row
    assert none is None and all(torch.equal(a, b) for a, b in zip(ran, lasts, strict=True))


def test_several_requests_in_one_batch_answer_as_each_alone(
    tiny_model: Path, pair: tuple[Any, Any]
) -> None:
    engine, _ = pair
    template = prompts.load_chat_template(tiny_model)
    frames = _frames(4)
    times = [i * 0.5 for i in range(4)]
    prefix = prompts.video_prefix(template, times, 2.0)
    requests = [
        GenerationRequest(
            frames,
            prompts.build_prompt(template, question, times, 2.0),
            max_tokens=16,
            ignore_eos=True,
            prefix=prefix,
        )
        for question in ("What moves?", "Which colours?", "Where is it?")
    ]
    alone = [engine.generate(request).token_ids for request in requests]
    together = engine.generate_many(requests)
    assert [out.token_ids for out in together] == alone
    assert [out.cached_tokens > 0 for out in together] == [True, True, True]


def _alone(backend: Any, item: GenerationRequest) -> list[int]:
    """A request's tokens with nothing else running, its prompt prefilled 16 rows at a
    time (each chunk run alone)."""
    backend.forget()
    pending = backend.submit(item, rows=16)
    while not backend.work(pending):
        pass
    while backend.decode([pending]):
        pass
    token_ids: list[int] = backend.finish(pending).token_ids
    return token_ids


def test_requests_prepared_in_slices_between_decode_steps_answer_as_alone(
    tiny_model: Path,
) -> None:
    """A request's frames are encoded a layer at a time and its prompt prefilled a few rows
    at a time, while another request keeps decoding between the slices; both answers are
    the ones they get alone (prepared in the same slices), and the sliced vision equals the
    whole pass."""
    from chronicon_mlx.backends.cpu_backend import CPUBackend

    ref = resolve(str(tiny_model))
    backend = create(Candidate("cpu", "cpu"))
    assert isinstance(backend, CPUBackend)
    backend.load(ref)
    template = prompts.load_chat_template(tiny_model)
    times = [0.0, 0.5, 1.0]

    def request(seed: int, question: str) -> GenerationRequest:
        prompt = prompts.build_prompt(template, question, times, 1.5)
        return GenerationRequest(_frames(3, seed), prompt, max_tokens=24, ignore_eos=True)

    first, second = request(1, "What moves?"), request(2, "Which colours?")

    solo = [_alone(backend, first), _alone(backend, second)]
    backend.forget()
    running = backend.submit(first, rows=16)
    while not backend.work(running):
        pass
    joining = backend.submit(second, rows=16)
    slices = steps = 0
    active = [running]
    while not backend.work(joining):
        slices += 1
        active = backend.decode(active)
        steps += 1
    layers = backend.engine.shape.vision.layers
    assert slices >= 3 * layers and steps == slices
    active.append(joining)
    while active:
        active = backend.decode(active)
    assert [backend.finish(p).token_ids for p in (running, joining)] == solo

    pixels = backend.engine.preprocess(_frames(2))
    whole = backend.engine.encode(pixels)
    steps_ = backend.engine.encode_steps(pixels)
    count = 0
    while True:
        try:
            next(steps_)
            count += 1
        except StopIteration as done:
            sliced = done.value
            break
    assert count == 2 * layers
    assert all(bool((a == b).all()) for a, b in zip(whole, sliced, strict=True))


def test_prompt_rows_run_within_decode_steps_answer_as_alone(tiny_model: Path) -> None:
    """A request's prompt chunks run in another request's decode steps (one forward for
    both rows); both answers are the ones they get alone."""
    from chronicon_mlx.backends.cpu_backend import CPUBackend

    ref = resolve(str(tiny_model))
    backend = create(Candidate("cpu", "cpu"))
    assert isinstance(backend, CPUBackend)
    backend.load(ref)
    template = prompts.load_chat_template(tiny_model)
    times = [0.0, 0.5]
    requests = [
        GenerationRequest(
            _frames(2, seed),
            prompts.build_prompt(template, question, times, 1.0),
            max_tokens=24,
            ignore_eos=True,
        )
        for seed, question in ((1, "What moves?"), (2, "Which colours?"))
    ]

    solo = [_alone(backend, item) for item in requests]
    backend.forget()
    running = backend.submit(requests[0], rows=16)
    while not backend.work(running):
        pass
    joining = backend.submit(requests[1], rows=16)
    active, folded = [running], 0
    while not joining.ready:
        if backend.waiting_rows(joining):
            folded += 1
            active = backend.decode(active, [joining])
        else:
            backend.work(joining)
    assert folded >= len(backend.prompt_ids(requests[1])) // 16 and active == [running, joining]
    while active:
        active = backend.decode(active)
    assert [backend.finish(p).token_ids for p in (running, joining)] == solo


@pytest.mark.parametrize("kernel", INT8_KERNELS)
def test_int8_stays_close_to_float32(tiny_model: Path, kernel: str) -> None:
    """8-bit weights: the logits drift little from float32's and the greedy choice mostly
    holds, with either kernel (the bench reports the same on the 256M architecture)."""
    ref = resolve(str(tiny_model))
    tuning = EngineTuning(int8=kernel)  # type: ignore[arg-type]
    full, eight = Engine(tiny_model, ref.config), Engine(tiny_model, ref.config, tuning, int8=True)
    assert eight.record()["int8"].split()[0] == kernel
    agree = total = 0
    worst = 0.0
    for seed in range(8):
        ids = np.random.default_rng(seed).integers(0, 400, 24).tolist()
        a, b = full.new_sequence(), eight.new_sequence()
        full.prefill(a, ids[:8])
        eight.prefill(b, ids[:8])
        for token in ids[8:]:
            x, y = full.decode([a], [token])[0], eight.decode([b], [token])[0]
            agree += int(x.argmax()) == int(y.argmax())
            total += 1
            worst = max(worst, float((x - y).abs().max()))
    assert agree / total >= 0.9 and worst < 0.5 * float(x.abs().max())


def test_int8_weights_are_kept_on_disk_and_read_back_as_they_were(
    tiny_model: Path, tmp_path: Path
) -> None:
    """The first int8 load quantizes and keeps the result; the next reads it back (the same
    bytes, the same logits); a file of another layout or a torn one is not used."""
    import torch

    from chronicon_mlx.engine import store

    ref = resolve(str(tiny_model))
    first = Engine(tiny_model, ref.config, int8=True, store=tmp_path)
    [kept] = list(tmp_path.glob("int8-*.pt"))
    assert kept.stat().st_mode & 0o777 == 0o600
    shape = first.shape.text
    loaded = store.load(kept, shape, first.kernels)
    assert loaded is not None
    made = first.text.weights
    assert torch.equal(loaded.layers[1].gate_up.weight, made.layers[1].gate_up.weight)
    assert torch.equal(loaded.head.scales, made.head.scales)
    assert (loaded.embed is loaded.head) == (made.embed is made.head)
    second = Engine(tiny_model, ref.config, int8=True, store=tmp_path)
    ids = list(range(5, 40))
    a, b = first.new_sequence(), second.new_sequence()
    assert torch.equal(first.prefill(a, ids), second.prefill(b, ids))
    assert torch.equal(first.decode([a], [9]), second.decode([b], [9]))

    other = dataclasses.replace(shape, layers=shape.layers + 1)
    assert store.load(kept, other, first.kernels) is None
    torn = tmp_path / "torn.pt"
    torn.write_bytes(kept.read_bytes()[: kept.stat().st_size // 2])
    assert store.load(torn, shape, first.kernels) is None


def test_int8_runs_the_vision_tower_in_bfloat16_close_to_float32(tiny_model: Path) -> None:
    """With int8, the tower's layers keep bfloat16 weights and multiply in bfloat16 (half
    the tower's memory, about 1.6x its speed): features stay within bfloat16's rounding of
    float32's, and in float32."""
    import torch

    ref = resolve(str(tiny_model))
    full, eight = Engine(tiny_model, ref.config), Engine(tiny_model, ref.config, int8=True)
    pixels = full.preprocess(_frames(2))
    for x, y in zip(full.encode(pixels), eight.encode(pixels), strict=True):
        assert y.dtype == torch.float32
        assert 0 < float((x - y).abs().max()) <= 2e-2 * float(x.abs().max())
    layer = eight.vision().weights.layers[0]
    assert layer.fc1.weight.dtype == layer.fc1.dtype == torch.bfloat16
    assert layer.fc1.dequantized().dtype == torch.float32
    assert full.vision().weights.layers[0].fc1.weight.dtype == torch.float32


def test_the_memory_check_picks_int8_for_the_2_2b_model_where_float32_does_not_fit(
    tiny_model: Path, ball_clip: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """With the needs of the 2.2B architecture and memory between its float32 and int8
    needs, `quantize auto` on the cpu engine loads int8 and says so; with less than the
    int8 need, the run stops before loading."""
    from chronicon_mlx.errors import ResourceError
    from chronicon_mlx.model import memory
    from chronicon_mlx.model.catalog import find_spec

    monkeypatch.setenv("CHRONICON_CACHE", str(tmp_path / "cache"))
    spec = find_spec("2.2b")
    assert spec is not None
    config = {"text_config": spec.text, "vision_config": spec.vision}
    config["scale_factor"] = spec.scale_factor
    real = memory.estimate
    full, eight = (real(config, "float32", q, 8, 64) for q in (None, "int8"))
    assert eight.total < 0.45 * full.total
    monkeypatch.setattr(
        memory, "estimate", lambda _c, dtype, quantize, *rest: real(config, dtype, quantize, *rest)
    )
    available = (full.total + eight.total) / 2
    monkeypatch.setattr(memory, "available_bytes", lambda device: (available, "available RAM"))
    reporter = NoteRecorder()
    answer = Analyzer(SessionSpec(model=str(tiny_model), backend="cpu"), reporter=reporter)
    result = answer.analyze(ball_clip, "What moves?", generation=GenerationConfig(max_tokens=4))
    assert result.quantization == "int8"
    assert result.backend_details["weights"] == "int8 text, bfloat16 vision"
    assert any("using the int8 variant" in note for note in reporter.notes)

    monkeypatch.setattr(memory, "available_bytes", lambda device: (eight.total / 2, "RAM"))
    with pytest.raises(ResourceError):
        Analyzer(SessionSpec(model=str(tiny_model), backend="cpu")).analyze(ball_clip, "Why?")


_SECOND_PROCESS = """
import json, sys
from pathlib import Path
from chronicon_mlx.analysis.analyze import Analyzer
from chronicon_mlx.analysis.params import GenerationConfig, SamplingConfig
from chronicon_mlx.analysis.spec import SessionSpec
from chronicon_mlx.analysis.videocache import VideoCache
model, folder, clip, question = sys.argv[1:5]
spec = SessionSpec(model=model, backend="cpu")
session = Analyzer(spec, video_cache=VideoCache(Path(folder), 10**10))
result = session.analyze(clip, question, None, SamplingConfig(frames=4),
                         GenerationConfig(max_tokens=12, ignore_eos=True))
vision = session.load().backend.engine.vision_loaded
print(json.dumps({"analysis": result.analysis, "notes": result.notes, "vision": vision,
                  "imported": sorted(m for m in sys.modules if m.split(".")[0] == "transformers")}))
"""


@pytest.mark.slow
def test_a_cached_video_is_answered_without_the_vision_tower_or_transformers(
    tiny_model: Path, ball_clip: Path, tmp_path: Path
) -> None:
    sampling, generation = (
        SamplingConfig(frames=4),
        GenerationConfig(max_tokens=12, ignore_eos=True),
    )
    cache = VideoCache(tmp_path / "videos", 10**10)
    spec = SessionSpec(model=str(tiny_model), backend="cpu")
    Analyzer(spec, video_cache=cache).analyze(ball_clip, "What moves?", None, sampling, generation)
    plain = Analyzer(spec).analyze(ball_clip, "Which colours?", None, sampling, generation)
    command = [sys.executable, "-c", _SECOND_PROCESS, str(tiny_model), str(cache.root)]
    command += [str(ball_clip), "Which colours?"]
    done = subprocess.run(command, capture_output=True, text=True, check=True, timeout=300)
    second = json.loads(done.stdout)
    assert second["imported"] == [] and HIT in second["notes"]
    assert second["vision"] is False and second["analysis"] == plain.analysis
