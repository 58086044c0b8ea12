"""The checkpoint's tokenizer through the tokenizers library (as transformers' fast
tokenizer encodes and decodes with it, special tokens neither added nor skipped), its
end-of-sequence ids, and JSON-constrained choices through llguidance."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any


class Tokenizer:
    """A checkpoint's tokenizer.json."""

    def __init__(self, folder: Path) -> None:
        from tokenizers import Tokenizer as Raw

        self.path = folder / "tokenizer.json"
        self._raw = Raw.from_file(str(self.path))
        self._folder = folder

    def encode(self, text: str) -> list[int]:
        """The ids of `text`."""
        ids: list[int] = self._raw.encode(text, add_special_tokens=False).ids
        return ids

    def decode(self, ids: Sequence[int]) -> str:
        """The text of `ids`."""
        text: str = self._raw.decode(list(ids), skip_special_tokens=False)
        return text

    def token_id(self, token: str) -> int | None:
        """The id of a token (None when the vocabulary lacks it)."""
        found = self._raw.token_to_id(token)
        return None if found is None else int(found)

    def eos_token_id(self) -> int | None:
        """The end-of-sequence token tokenizer_config.json names."""
        path = self._folder / "tokenizer_config.json"
        try:
            data = json.loads(path.read_text("utf-8")) if path.is_file() else {}
        except (OSError, ValueError):
            return None
        eos = data.get("eos_token")
        eos = eos.get("content") if isinstance(eos, dict) else eos
        return self.token_id(eos) if isinstance(eos, str) else None


def stop_ids(folder: Path, config: dict[str, Any]) -> list[int]:
    """The ids generation stops at: generation_config.json's ``eos_token_id`` (config.json's
    when it names none), as transformers reads them."""
    path = folder / "generation_config.json"
    values: dict[str, Any] = json.loads(path.read_text("utf-8")) if path.is_file() else {}
    eos = values.get("eos_token_id")
    if eos is None:
        eos = config.get("eos_token_id", (config.get("text_config") or {}).get("eos_token_id"))
    if eos is None:
        return []
    return [int(v) for v in eos] if isinstance(eos, list) else [int(eos)]


def generation_settings(folder: Path) -> dict[str, Any]:
    """generation_config.json's settings (empty when there is none)."""
    path = folder / "generation_config.json"
    data = json.loads(path.read_text("utf-8")) if path.is_file() else {}
    return data if isinstance(data, dict) else {}


class JsonConstraint:
    """Only lets through tokens that keep the output valid JSON for a schema (llguidance,
    with its bitmask applied to torch logits directly)."""

    def __init__(self, tokenizer: Tokenizer, vocab: int, schema: dict[str, Any]) -> None:
        import llguidance
        import numpy as np

        eos = tokenizer.eos_token_id()
        grammar = llguidance.JsonCompiler(separators=(", ", ": "), whitespace_pattern="").compile(
            json.dumps(schema)
        )
        lltokenizer = _lltokenizer(str(tokenizer.path), eos)
        self.matcher = llguidance.LLMatcher(lltokenizer, grammar)
        self.vocab = vocab
        self._bitmask = np.full((1, (vocab + 31) // 32), -1, dtype=np.int32)

    def restrict(self, logits: Any) -> None:
        """Set forbidden tokens' logits [vocab] (or [1, vocab]) to -inf, in place."""
        import llguidance.numpy
        import torch

        llguidance.numpy.fill_next_token_bitmask(self.matcher, self._bitmask, 0)
        words = torch.from_numpy(self._bitmask[0])
        bits = (words[:, None] >> torch.arange(32, dtype=torch.int32)) & 1
        allowed = bits.reshape(-1)[: self.vocab].bool()
        with torch.inference_mode():  # the engine's logits are inference tensors
            flat = logits.view(-1)
            flat[: allowed.numel()].masked_fill_(~allowed, float("-inf"))
            if flat.numel() > allowed.numel():
                flat[allowed.numel() :] = float("-inf")

    def consume(self, token: int) -> None:
        """Advance past the chosen token."""
        self.matcher.consume_token(token)


_LLTOKENIZERS: dict[tuple[str, int | None], Any] = {}


def _lltokenizer(path: str, eos: int | None) -> Any:
    """llguidance's tokenizer for a tokenizer.json (built once: about a second)."""
    import llguidance

    key = (path, eos)
    if key not in _LLTOKENIZERS:
        text = Path(path).read_text("utf-8")
        _LLTOKENIZERS[key] = llguidance.LLTokenizer(text, eos_token=eos)
    return _LLTOKENIZERS[key]
