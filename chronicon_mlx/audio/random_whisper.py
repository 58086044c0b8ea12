"""Whisper checkpoints with random weights, built offline: ``tiny-random`` for tests and
real-size ones (``tiny``, ``base``) for benchmarks.

The model is made with transformers (English-only layout: byte-level tokens, then
Whisper's special tokens, then its 1,501 timestamps) and converted to faster-whisper's
format by CTranslate2's own converter, so the real loading and decoding code runs on it.
Building needs torch and transformers (the test extra); using it does not.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from ..files import built_once
from ..paths import cache_root
from ..progress import quiet_libraries

BUILDER_VERSION = "1"
SPECIALS = [
    "<|endoftext|>",
    "<|startoftranscript|>",
    "<|translate|>",
    "<|transcribe|>",
    "<|startoflm|>",
    "<|startofprev|>",
    "<|nocaptions|>",
    "<|notimestamps|>",
]
TIMESTAMPS = 1501
SIZES: dict[str, dict[str, int]] = {
    "tiny-random": {"d_model": 64, "layers": 1, "heads": 2, "base_vocab": 256},
    "tiny": {"d_model": 384, "layers": 4, "heads": 6, "base_vocab": 50256},
    "base": {"d_model": 512, "layers": 6, "heads": 8, "base_vocab": 50256},
}
MARK = "random-weights.json"
"""The file that marks a built checkpoint (its weights are random)."""


def _tokenizer(folder: Path, base_vocab: int) -> dict[str, int]:
    """A byte-level tokenizer padded to `base_vocab` text tokens, then Whisper's specials."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    alphabet = sorted(pre_tokenizers.ByteLevel.alphabet())
    vocab = {symbol: index for index, symbol in enumerate(alphabet)}
    for index in range(len(vocab), base_vocab):
        vocab[f"<fill_{index}>"] = index
    tokenizer = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    tokenizer.add_special_tokens(SPECIALS)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        bos_token="<|endoftext|>",
        eos_token="<|endoftext|>",
        unk_token="<|endoftext|>",
        model_max_length=448,
    )
    fast.save_pretrained(str(folder))
    return {token: int(fast.convert_tokens_to_ids(token)) for token in SPECIALS}


def build_whisper(out: Path, size: str = "tiny-random", seed: int = 0) -> Path:
    """Write a random-weight Whisper of `size`, converted for faster-whisper, into `out`."""
    import tempfile

    quiet_libraries()
    import torch
    from ctranslate2.converters import TransformersConverter
    from transformers import (
        GenerationConfig,
        WhisperConfig,
        WhisperFeatureExtractor,
        WhisperForConditionalGeneration,
    )

    quiet_libraries()
    shape = SIZES[size]
    with tempfile.TemporaryDirectory(prefix="whisper-") as source:
        folder = Path(source)
        ids = _tokenizer(folder, shape["base_vocab"])
        eot, sot = ids["<|endoftext|>"], ids["<|startoftranscript|>"]
        config = WhisperConfig(
            vocab_size=shape["base_vocab"] + len(SPECIALS) + TIMESTAMPS,
            num_mel_bins=80,
            d_model=shape["d_model"],
            encoder_layers=shape["layers"],
            decoder_layers=shape["layers"],
            encoder_attention_heads=shape["heads"],
            decoder_attention_heads=shape["heads"],
            encoder_ffn_dim=4 * shape["d_model"],
            decoder_ffn_dim=4 * shape["d_model"],
            bos_token_id=eot,
            eos_token_id=eot,
            pad_token_id=eot,
            decoder_start_token_id=sot,
            suppress_tokens=[],
            begin_suppress_tokens=[eot],
        )
        torch.manual_seed(seed)
        model = WhisperForConditionalGeneration(config).eval()
        model.generation_config = GenerationConfig(
            decoder_start_token_id=sot,
            eos_token_id=eot,
            pad_token_id=eot,
            suppress_tokens=[],
            begin_suppress_tokens=[eot],
            no_timestamps_token_id=ids["<|notimestamps|>"],
        )
        model.save_pretrained(str(folder))
        WhisperFeatureExtractor(feature_size=80).save_pretrained(str(folder))
        converter = TransformersConverter(
            str(folder), copy_files=["tokenizer.json", "preprocessor_config.json"]
        )
        converter.convert(str(out), quantization="int8", force=True)
    stamp = {"size": size, "seed": seed, "builder": BUILDER_VERSION}
    (out / MARK).write_text(json.dumps(stamp) + "\n")
    return out


def build_mlx_whisper(out: Path, size: str = "tiny-random", seed: int = 0) -> Path:
    """Write a random-weight Whisper of `size` in mlx-whisper's layout into `out`: the
    package's own model, initialised by MLX, its parameters saved as safetensors beside
    its dimensions (multilingual vocabulary, as mlx-whisper's bundled tokenizer expects)."""
    from ..native import blas

    blas.preload()  # before MLX is first imported (see `blas`)
    import mlx.core as mx
    from mlx.utils import tree_flatten
    from mlx_whisper.whisper import ModelDimensions, Whisper

    shape = SIZES[size]
    dims = ModelDimensions(
        n_mels=80,
        n_audio_ctx=1500,
        n_audio_state=shape["d_model"],
        n_audio_head=shape["heads"],
        n_audio_layer=shape["layers"],
        n_vocab=51865,
        n_text_ctx=448,
        n_text_state=shape["d_model"],
        n_text_head=shape["heads"],
        n_text_layer=shape["layers"],
    )
    mx.random.seed(seed)
    model = Whisper(dims)
    weights = {name: value.astype(mx.float16) for name, value in tree_flatten(model.parameters())}
    mx.save_safetensors(str(out / "weights.safetensors"), weights)  # float16, as published
    config = {"model_type": "whisper", **dims.__dict__}
    (out / "config.json").write_text(json.dumps(config, indent=2) + "\n")
    stamp = {"size": size, "seed": seed, "builder": BUILDER_VERSION, "engine": "mlx-whisper"}
    (out / MARK).write_text(json.dumps(stamp) + "\n")
    return out


def cached_whisper(
    size: str = "tiny-random",
    seed: int = 0,
    root: Path | None = None,
    engine: str = "faster-whisper",
) -> Path:
    """A built random-weight Whisper for `engine` from the cache, built on first use."""
    key = hashlib.sha1(f"{size}-{seed}-{BUILDER_VERSION}-{engine}-2".encode()).hexdigest()[:8]
    if engine == "faster-whisper":  # the first builds' names, kept
        key = hashlib.sha1(f"{size}-{seed}-{BUILDER_VERSION}".encode()).hexdigest()[:8]
        folder = (root or cache_root()) / "checkpoints" / f"whisper-{size}-random-{key}"
        return built_once(folder, MARK, lambda tmp: build_whisper(tmp, size, seed))
    folder = (root or cache_root()) / "checkpoints" / f"mlx-whisper-{size}-random-{key}"
    return built_once(folder, MARK, lambda tmp: build_mlx_whisper(tmp, size, seed))
