"""What both backends reuse between requests, and how a prompt is split for it.

A prompt is prefilled by the backend up to its last frame (the *head*) and the text after
it is left to the library's generate loop. Of the head, the part that matches the request's
shared `prefix` is kept as a KV cache and reused by the next request that starts the same
way, with the same frames where the prefix holds frames (keyed by the frames' content: token
ids alone cannot tell two videos apart). Each frame's vision features are kept too, keyed by
content, so a frame that two requests share (overlapping highlight windows, a second
question) goes through the vision tower once.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import numpy as np

Value = TypeVar("Value")
FEATURE_CACHE_FRAMES = 512
PREFIX_CACHES = 4
PREFILL_CHUNK = 512


def frame_key(image: np.ndarray[Any, Any]) -> str:
    """A content key for a frame: its shape and a digest of its pixels."""
    digest = hashlib.blake2b(np.ascontiguousarray(image).tobytes(), digest_size=16)
    return f"{'x'.join(str(d) for d in image.shape)}:{digest.hexdigest()}"


class LRU(Generic[Value]):
    """A small least-recently-used map."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._items: OrderedDict[str, Value] = OrderedDict()

    def get(self, key: str) -> Value | None:
        """The value for `key` (now the most recent), or None."""
        value = self._items.get(key)
        if value is not None:
            self._items.move_to_end(key)
        return value

    def put(self, key: str, value: Value) -> None:
        """Keep `value` for `key`, dropping the least recent past the size."""
        self._items[key] = value
        self._items.move_to_end(key)
        while len(self._items) > self.size:
            self._items.popitem(last=False)

    def __len__(self) -> int:
        return len(self._items)


@dataclass(frozen=True)
class Plan:
    """How one request's prompt ids are prefilled.

    `reuse` tokens match the shared prefix (cacheable); `head` tokens are prefilled by the
    backend (through the last frame); the rest goes to the generate loop. `frames_in` is
    how many frames lie in the first `reuse` tokens and `key` identifies that prefix.
    """

    ids: list[int]
    reuse: int
    head: int
    frames_in: int
    key: tuple[tuple[int, ...], tuple[str, ...]]

    @property
    def cache_key(self) -> str:
        """A digest of the reusable prefix: its token ids and its frames' keys."""
        ids, frames = self.key
        digest = hashlib.blake2b(np.asarray(ids, np.int64).tobytes(), digest_size=16)
        for key in frames:
            digest.update(key.encode())
        return f"{len(ids)}:{digest.hexdigest()}"


def plan(
    ids: Sequence[int],
    prefix_ids: Sequence[int],
    image_token: int,
    tokens_per_frame: int,
    frame_keys: Sequence[str],
) -> Plan:
    """Split `ids` for prefilling. The reusable prefix is where `ids` and `prefix_ids`
    agree; it stops before the first frame unless the frames' content keys are known, and
    always leaves text after it to generate from. The head runs through the last frame (and
    the reusable prefix)."""
    ids = list(ids)
    last_image = max((i for i, t in enumerate(ids) if t == image_token), default=-1)
    limit = min(len(prefix_ids), len(ids) - 1)
    reuse = 0
    while reuse < limit and prefix_ids[reuse] == ids[reuse]:
        if ids[reuse] == image_token and not frame_keys:
            break
        reuse += 1
    frames_in = sum(1 for t in ids[:reuse] if t == image_token) // max(1, tokens_per_frame)
    key = (tuple(ids[:reuse]), tuple(frame_keys[:frames_in]))
    return Plan(ids, reuse, max(last_image + 1, reuse), frames_in, key)
