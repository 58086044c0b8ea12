"""Build SmolVLM2 checkpoints offline: tiny ones for tests, real-size ones for benchmarks.

The weights are random; the architecture, tokenizer special tokens, chat template and
processor files follow the released SmolVLM2 checkpoints, so the real loading, prompt and
generation code runs on them. Building needs numpy, safetensors, tokenizers and
transformers' config classes (all installed with mlx-vlm), not torch.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path
from typing import Any

from ..files import build_into, built_once
from ..paths import cache_root
from ..progress import quiet_libraries
from .catalog import VOCAB_SIZE, find_spec
from .prompt import SMOLVLM_CHAT_TEMPLATE as CHAT_TEMPLATE
from .shapes import ModelShape

BUILDER_VERSION = 3

SPECIAL_TOKENS = [
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<fake_token_around_image>",
    "<image>",
    "<global-img>",
    "<end_of_utterance>",
    "<video>",
] + [f"<row_{r}_col_{c}>" for r in range(1, 7) for c in range(1, 7)]

TINY_TEXT = {
    "hidden_size": 64,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "intermediate_size": 128,
}
TINY_VISION = {
    "hidden_size": 64,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "intermediate_size": 128,
    "image_size": 64,
    "patch_size": 8,
}
TINY_SCALE_FACTOR = 4

_CORPUS = """
The video shows a person walking across a busy street while cars wait at the light.
A red ball rolls across the green field and a player kicks it toward the goal.
The camera pans slowly from the left to the right, following the runner on the track.
In the first frame the room is dark; later a lamp turns on and the scene becomes bright.
Two people talk at a table, then one of them stands up and leaves through the door.
The crowd cheers as the team scores, and the referee raises a yellow card.
Frame from 00:01 shows a blue square moving over a white background.
Describe what happens in this video. Summarize the key events in order.
What is the main action? Who appears on screen? Where does the scene take place?
Numbers: 0 1 2 3 4 5 6 7 8 9 10 11 12 30 60 100. Colors: red green blue yellow black white.
"""


def build_tokenizer(out: Path, base_size: int, total_size: int) -> dict[str, int]:
    """Train a small byte-level BPE with SmolVLM's special tokens; return their ids.

    Every id below `total_size` decodes: the trained vocabulary is padded with unreachable
    entries up to `base_size`, the special tokens follow (as SmolVLM2's start at 49152), and
    reserved added tokens fill the rest, so a random model can emit any id.
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    quiet_libraries()
    from transformers import PreTrainedTokenizerFast

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=base_size,
        special_tokens=[],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator([_CORPUS] * 4, trainer=trainer)
    if tokenizer.get_vocab_size() < base_size:
        data = json.loads(tokenizer.to_str())
        vocab = data["model"]["vocab"]
        for index in range(len(vocab), base_size):
            vocab[f"<fill_{index}>"] = index
        tokenizer = Tokenizer.from_str(json.dumps(data))
    tokenizer.add_special_tokens(SPECIAL_TOKENS)
    reserved = total_size - tokenizer.get_vocab_size()
    if reserved > 0:
        tokenizer.add_special_tokens([f"<reserved_{i}>" for i in range(reserved)])
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        bos_token="<|im_start|>",
        eos_token="<end_of_utterance>",
        pad_token="<|im_end|>",
        unk_token="<|endoftext|>",
        additional_special_tokens=[
            t
            for t in SPECIAL_TOKENS
            if t.startswith(("<fake", "<image", "<global", "<video", "<end_of"))
        ],
        model_max_length=8192,
        clean_up_tokenization_spaces=False,
    )
    fast.chat_template = CHAT_TEMPLATE
    fast.save_pretrained(str(out))
    ids = {tok: int(fast.convert_tokens_to_ids(tok)) for tok in SPECIAL_TOKENS}
    (out / "added_tokens.json").write_text(json.dumps(ids, indent=2) + "\n")
    (out / "chat_template.json").write_text(
        json.dumps({"chat_template": CHAT_TEMPLATE}, indent=2) + "\n"
    )
    return ids


def _configs(size: str) -> tuple[dict[str, int], dict[str, int], int, int]:
    if size == "tiny":
        return TINY_TEXT, TINY_VISION, TINY_SCALE_FACTOR, 512
    spec = find_spec(size)
    if spec is None:
        raise ValueError(f"unknown checkpoint size {size!r}")
    return spec.text, spec.vision, spec.scale_factor, VOCAB_SIZE


def build_checkpoint(out: Path, size: str = "tiny", seed: int = 0) -> Path:
    """Write a random-weight SmolVLM2 checkpoint of `size` ("tiny", "256m", "500m", "2.2b").

    The folder is written to a temporary sibling and renamed into place, so a crash leaves
    nothing half-built. The same size and seed give byte-identical files.
    """
    return build_into(Path(out), lambda folder: _write_checkpoint(folder, size, seed))


def _write_checkpoint(folder: Path, size: str, seed: int) -> None:
    """Write a random-weight checkpoint of `size` into the (empty) `folder`."""
    text, vision, scale_factor, vocab_size = _configs(size)
    base = vocab_size - len(SPECIAL_TOKENS) if size == "tiny" else 49152
    ids = build_tokenizer(folder, base, vocab_size)
    config = _smolvlm_config(
        text, vision, scale_factor, max(vocab_size, max(ids.values()) + 1), ids
    )
    stamp = {"size": size, "seed": seed, "builder": BUILDER_VERSION}
    write_random_weights(folder, config.to_dict(), stamp)
    _write_generation_config(folder, ids)
    seq_len = (vision["image_size"] // vision["patch_size"]) ** 2 // scale_factor**2
    _write_processor_files(folder, vision["image_size"], seq_len)


def _smolvlm_config(
    text: dict[str, int],
    vision: dict[str, int],
    scale_factor: int,
    vocab: int,
    ids: dict[str, int],
) -> Any:
    """transformers' SmolVLMConfig for these sizes and special-token ids."""
    quiet_libraries()
    from transformers import SmolVLMConfig

    return SmolVLMConfig(
        text_config={
            "model_type": "llama",
            **text,
            "vocab_size": vocab,
            "max_position_embeddings": 8192,
            "rms_norm_eps": 1e-5,
            "rope_theta": 100000.0,
            "tie_word_embeddings": False,
            "pad_token_id": ids["<|im_end|>"],
        },
        vision_config={"model_type": "smolvlm_vision", **vision},
        scale_factor=scale_factor,
        image_token_id=ids["<image>"],
        vocab_size=vocab,
        tie_word_embeddings=False,
        pad_token_id=ids["<|im_end|>"],
        bos_token_id=ids["<|im_start|>"],
        eos_token_id=ids["<end_of_utterance>"],
    )


def write_random_weights(folder: Path, config: dict[str, Any], stamp: dict[str, Any]) -> None:
    """Seeded (``stamp["seed"]``) random weights for `config` (normal(0, 0.02), norms at 1,
    biases at 0) under transformers' parameter names, and config.json marked as random and
    by what built them (`stamp`). Needs numpy and safetensors, not torch."""
    import numpy as np
    from safetensors.numpy import save_file

    rng = np.random.default_rng(stamp["seed"])
    tensors: dict[str, Any] = {}
    for name, shape, kind in parameter_shapes(config):
        if kind == "normal":
            tensors[name] = rng.normal(0.0, 0.02, shape).astype(np.float32)
        else:
            tensors[name] = np.full(shape, 1.0 if kind == "ones" else 0.0, np.float32)
    save_file(tensors, str(folder / "model.safetensors"), metadata={"format": "pt"})
    data = dict(config)
    data.update(architectures=["SmolVLMForConditionalGeneration"], dtype="float32")
    data["text_config"]["rope_theta"] = 100000.0
    data["chronicon_random_weights"] = True
    data["chronicon_checkpoint"] = stamp
    (folder / "config.json").write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")


def parameter_shapes(config: dict[str, Any]) -> list[tuple[str, tuple[int, ...], str]]:
    """(name, shape, init) of every SmolVLM weight, in transformers' naming; init is
    "normal", "ones" (norm weights) or "zeros" (biases)."""
    shape = ModelShape.of(config)
    text, vision = shape.text, shape.vision
    h, vocab, ffn, kv = text.hidden, text.vocab, text.ffn, text.kv_size
    vh, vffn, patch, patches = vision.hidden, vision.ffn, vision.patch, vision.patches
    scale = vision.scale
    out: list[tuple[str, tuple[int, ...], str]] = [
        ("lm_head.weight", (vocab, h), "normal"),
        ("model.connector.modality_projection.proj.weight", (h, vh * scale * scale), "normal"),
        ("model.text_model.embed_tokens.weight", (vocab, h), "normal"),
    ]
    for i in range(text.layers):
        layer = f"model.text_model.layers.{i}"
        out += [
            (f"{layer}.input_layernorm.weight", (h,), "ones"),
            (f"{layer}.mlp.down_proj.weight", (h, ffn), "normal"),
            (f"{layer}.mlp.gate_proj.weight", (ffn, h), "normal"),
            (f"{layer}.mlp.up_proj.weight", (ffn, h), "normal"),
            (f"{layer}.post_attention_layernorm.weight", (h,), "ones"),
            (f"{layer}.self_attn.k_proj.weight", (kv, h), "normal"),
            (f"{layer}.self_attn.o_proj.weight", (h, text.q_size), "normal"),
            (f"{layer}.self_attn.q_proj.weight", (text.q_size, h), "normal"),
            (f"{layer}.self_attn.v_proj.weight", (kv, h), "normal"),
        ]
    out.append(("model.text_model.norm.weight", (h,), "ones"))
    embeddings = "model.vision_model.embeddings"
    out += [
        (f"{embeddings}.patch_embedding.bias", (vh,), "zeros"),
        (f"{embeddings}.patch_embedding.weight", (vh, 3, patch, patch), "normal"),
        (f"{embeddings}.position_embedding.weight", (patches, vh), "normal"),
    ]
    for i in range(vision.layers):
        layer = f"model.vision_model.encoder.layers.{i}"
        out += [
            (f"{layer}.layer_norm{n}.{p}", (vh,), "ones" if p == "weight" else "zeros")
            for n in (1, 2)
            for p in ("bias", "weight")
        ]
        out += [
            (f"{layer}.mlp.fc1.bias", (vffn,), "zeros"),
            (f"{layer}.mlp.fc1.weight", (vffn, vh), "normal"),
            (f"{layer}.mlp.fc2.bias", (vh,), "zeros"),
            (f"{layer}.mlp.fc2.weight", (vh, vffn), "normal"),
        ]
        for proj in ("k_proj", "out_proj", "q_proj", "v_proj"):
            out += [
                (f"{layer}.self_attn.{proj}.bias", (vh,), "zeros"),
                (f"{layer}.self_attn.{proj}.weight", (vh, vh), "normal"),
            ]
    out += [
        ("model.vision_model.post_layernorm.bias", (vh,), "zeros"),
        ("model.vision_model.post_layernorm.weight", (vh,), "ones"),
    ]
    return out


def _write_generation_config(folder: Path, ids: dict[str, int]) -> None:
    data = {
        "bos_token_id": ids["<|im_start|>"],
        "eos_token_id": [ids["<end_of_utterance>"]],
        "pad_token_id": ids["<|im_end|>"],
    }
    (folder / "generation_config.json").write_text(json.dumps(data, indent=2) + "\n")


def _write_processor_files(folder: Path, image_size: int, seq_len: int) -> None:
    preprocessor = {
        "do_convert_rgb": True,
        "do_image_splitting": True,
        "do_normalize": True,
        "do_pad": True,
        "do_rescale": True,
        "do_resize": True,
        "image_mean": [0.5, 0.5, 0.5],
        "image_std": [0.5, 0.5, 0.5],
        "image_processor_type": "SmolVLMImageProcessor",
        "max_image_size": {"longest_edge": image_size},
        "processor_class": "SmolVLMProcessor",
        "resample": 1,
        "rescale_factor": 1 / 255,
        "size": {"longest_edge": image_size * 4},
        "video_sampling": {
            "fps": 1,
            "max_frames": 64,
            "video_size": {"longest_edge": image_size},
        },
    }
    (folder / "preprocessor_config.json").write_text(json.dumps(preprocessor, indent=2) + "\n")
    (folder / "processor_config.json").write_text(
        json.dumps({"image_seq_len": seq_len, "processor_class": "SmolVLMProcessor"}, indent=2)
        + "\n"
    )


def cached_checkpoint(size: str = "tiny", seed: int = 0, root: Path | None = None) -> Path:
    """Return a built checkpoint from the cache, building it on first use (and clearing
    what a build that was killed left behind)."""
    key = hashlib.sha1(f"{size}-{seed}-{BUILDER_VERSION}".encode()).hexdigest()[:8]
    folder = (root or cache_root()) / "checkpoints" / f"smolvlm2-{size}-random-{key}"
    return built_once(folder, "model.safetensors", lambda tmp: _write_checkpoint(tmp, size, seed))


def real_files_checkpoint(
    files: Path,
    layout: str,
    sizes: dict[str, dict[str, int]] | None = None,
    root: Path | None = None,
) -> Path:
    """A random-weight checkpoint with SmolVLM2's real tokenizer, special-token ids, chat
    template and processor files (`files`/`layout`/ and `files`/tokenizer.json), its config
    sections updated with `sizes` (None: the real sizes); built once, under a lock."""
    sources = [*sorted((files / layout).iterdir()), files / "tokenizer.json"]
    digest = hashlib.sha1(b"".join(f.read_bytes() for f in sources)).hexdigest()[:10]
    shrunk = hashlib.sha1(json.dumps(sizes, sort_keys=True).encode()).hexdigest()[:6]
    name = f"smolvlm2-{layout}-real-files-{digest}-{shrunk if sizes else 'full'}"
    folder = (root or cache_root()) / "checkpoints" / name

    def build(tmp: Path) -> None:
        for source in sources:
            if source.name != "config.json":
                shutil.copy(source, tmp / source.name)
        config = json.loads((files / layout / "config.json").read_text())
        for section, values in (sizes or {}).items():
            config[section].update(values)
        stamp = {"seed": 0, "layout": layout, **({} if sizes else {"sizes": "full"})}
        write_random_weights(tmp, config, stamp)

    return built_once(folder, "model.safetensors", build)
