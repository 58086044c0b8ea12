"""What fits in the model's context: prompt tokens counted with the checkpoint's own
tokenizer before anything runs, and user text that would be read as a special token."""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..errors import UsageError, field
from .prompt import IMAGE_TOKEN
from .resolver import ModelRef

DEFAULT_CONTEXT = 8192
MAX_CHARS_PER_TOKEN = 128
"""More characters than any token of SmolVLM2's vocabulary covers (the longest is a new line
and 80 spaces): text past this many per token of context cannot fit, and is refused
before it is tokenized."""
FRAME_WRAPPER_TOKENS = 3
"""``<fake_token_around_image><global-img>`` before a frame's image tokens and
``<fake_token_around_image>`` after them."""


@functools.lru_cache(maxsize=4)
def _tokenizer(path: Path) -> tuple[Any, tuple[str, ...]]:
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(path / "tokenizer.json"))
    data = json.loads((path / "tokenizer.json").read_text(encoding="utf-8"))
    added = tuple(t["content"] for t in data.get("added_tokens", []) if t.get("content"))
    return tokenizer, added


def context_length(model: ModelRef) -> int:
    """The most tokens the model reads (prompt and answer together)."""
    text = model.config.get("text_config", {})
    return int(text.get("max_position_embeddings") or DEFAULT_CONTEXT)


def check_user_text(model: ModelRef, texts: Mapping[str, str | None]) -> None:
    """Refuse user text (by setting name) longer than the model could ever read (before any
    of it is tokenized), or holding one of the tokenizer's added tokens, such as
    ``<image>``: the model would read it as a frame or a turn boundary."""
    _, added = _tokenizer(model.path)
    most = MAX_CHARS_PER_TOKEN * context_length(model)
    for name, text in texts.items():
        if text and len(text) > most:
            raise UsageError(
                f"{field(name)} is {len(text):,} characters, more than {model.name} can read"
                f" ({context_length(model):,} tokens)",
                hint=f"shorten {field(name)}",
            )
        for token in added:
            if text and token in text:
                raise UsageError(
                    f"{field(name)} contains '{token}', which SmolVLM2 reserves for its own"
                    " use (frames, turns)",
                    hint="remove it, or write it another way (without the angle brackets)",
                )


def without_reserved(model: ModelRef, text: str) -> str:
    """`text` with the tokenizer's added tokens taken out (a model's earlier answer that
    printed ``<image>`` must not read as a frame when it is fed back as a turn)."""
    _, added = _tokenizer(model.path)
    for token in added:
        text = text.replace(token, "")
    return text


def speech_words(model: ModelRef, text: str) -> str:
    """What was said as one speech line of the prompt holds it: the tokenizer's added
    tokens taken out and every run of whitespace (newlines too) made one space."""
    return " ".join(without_reserved(model, text).split())


def prompt_tokens(model: ModelRef, prompt: str) -> int:
    """Tokens the model reads for a rendered `prompt`, each frame's ``<image>`` expanded."""
    tokenizer, _ = _tokenizer(model.path)
    ids = tokenizer.encode(prompt, add_special_tokens=False).ids
    frames = prompt.count(IMAGE_TOKEN)
    return len(ids) + frames * (model.tokens_per_frame + FRAME_WRAPPER_TOKENS - 1)


def check_fits(model: ModelRef, prompt: str, frames: int, max_tokens: int) -> int:
    """The prompt's token count; a clear error when it and the answer overrun the context."""
    count = prompt_tokens(model, prompt)
    limit = context_length(model)
    if count + max_tokens > limit:
        per_frame = model.tokens_per_frame + FRAME_WRAPPER_TOKENS
        raise UsageError(
            f"the prompt is {count:,} tokens ({frames} frames of {per_frame} and"
            f" {count - frames * per_frame:,} of text) and the answer may take {max_tokens}"
            f" more, but {model.name} reads at most {limit:,}",
            hint=f"shorten {field('prompt')} or {field('system')}, or use fewer"
            f" {field('frames')} or a smaller {field('max_tokens')}",
        )
    return count
