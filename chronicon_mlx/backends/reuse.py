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
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import numpy as np

if TYPE_CHECKING:
    from ..model.shapes import ModelShape

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

    def items(self) -> list[tuple[str, Value]]:
        """Every (key, value), the least recent first."""
        return list(self._items.items())

    def clear(self) -> None:
        """Drop every value."""
        self._items.clear()

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
        """The key the reusable prefix's KV cache is kept under."""
        ids, frames = self.key
        return prefix_key(ids, frames)


def prefix_key(ids: Sequence[int], frame_keys: Sequence[str]) -> str:
    """A digest of a prefix: its token ids and its frames' keys."""
    digest = hashlib.blake2b(np.asarray(ids, np.int64).tobytes(), digest_size=16)
    for key in frame_keys:
        digest.update(key.encode())
    return f"{len(ids)}:{digest.hexdigest()}"


def frames_within(ids: Sequence[int], image_token: int, tokens_per_frame: int) -> int:
    """How many frames' image tokens `ids` hold."""
    return sum(1 for t in ids if t == image_token) // max(1, tokens_per_frame)


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
    frames_in = frames_within(ids[:reuse], image_token, tokens_per_frame)
    key = (tuple(ids[:reuse]), tuple(frame_keys[:frames_in]))
    return Plan(ids, reuse, max(last_image + 1, reuse), frames_in, key)


@dataclass(frozen=True)
class PrefixState:
    """A shared prefix's KV cache as arrays: its token ids, the keys of the frames in it, and
    each layer's keys and values."""

    ids: list[int]
    frame_keys: list[str]
    layers: list[tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]]


class KeptState:
    """What a backend keeps between requests (frame features, prefix KV caches), and its
    export to and import from plain arrays (the video cache stores those).

    A backend supplies `_ids`, `_image_token`, `_shape`, the array conversions and the
    conversion of a KV cache to and from per-layer (keys, values).
    """

    _image_token: int
    _shape: ModelShape
    _features: LRU[Any]
    _prefixes: LRU[Any]

    def _ids(self, text: str) -> list[int]:
        raise NotImplementedError

    def _to_numpy(self, value: Any) -> np.ndarray[Any, Any]:
        raise NotImplementedError

    def _from_numpy(self, array: np.ndarray[Any, Any]) -> Any:
        raise NotImplementedError

    def _cache_layers(self, cache: Any) -> list[tuple[Any, Any]]:
        raise NotImplementedError

    def _cache_from(self, layers: list[tuple[Any, Any]]) -> Any:
        raise NotImplementedError

    def _plan(self, request: Any) -> tuple[Plan, list[str]]:
        """How `request` is prefilled, and its frames' keys."""
        keys = list(request.frame_keys) or [frame_key(f) for f in request.frames]
        prefix = self._ids(request.prefix) if request.prefix else []
        size = self._shape.tokens_per_frame
        return plan(self._ids(request.prompt), prefix, self._image_token, size, keys), keys

    def forget(self) -> None:
        """Drop every kept frame feature and prefix cache (the next request computes all)."""
        self._features.clear()
        self._prefixes.clear()

    def export_features(self, keys: Sequence[str]) -> list[np.ndarray[Any, Any]] | None:
        """The kept features of the frames named by `keys` (None unless all are kept)."""
        kept = [self._features.get(key) for key in keys]
        if any(value is None for value in kept):
            return None
        return [self._to_numpy(value) for value in kept]

    def import_features(self, keys: Sequence[str], arrays: Sequence[np.ndarray[Any, Any]]) -> None:
        """Keep features computed earlier; ValueError when they do not fit this model."""
        shape = (self._shape.tokens_per_frame, self._shape.text.hidden)
        if len(keys) != len(arrays) or any(tuple(a.shape) != shape for a in arrays):
            raise ValueError(f"frame features are not {len(keys)} arrays of {shape}")
        for key, array in zip(keys, arrays, strict=True):
            self._features.put(key, self._from_numpy(array))

    def export_prefix(self, request: Any) -> PrefixState | None:
        """The kept KV cache of `request`'s shared prefix, as arrays (None when none is
        kept)."""
        step, _keys = self._plan(request)
        cache = self._prefixes.get(step.cache_key) if step.reuse else None
        if cache is None:
            return None
        ids, frames = step.key
        layers = [
            (self._to_numpy(k[:, :, : step.reuse]), self._to_numpy(v[:, :, : step.reuse]))
            for k, v in self._cache_layers(cache)
        ]
        return PrefixState(list(ids), list(frames), layers)

    def holds_prefix(self, text: str, frame_keys: Sequence[str]) -> bool:
        """Whether the KV cache of the prefix `text`, over the frames named by `frame_keys`
        (the video's, in order), is kept."""
        ids = self._ids(text)
        frames = frames_within(ids, self._image_token, self._shape.tokens_per_frame)
        return self._prefixes.get(prefix_key(ids, list(frame_keys)[:frames])) is not None

    def import_prefix(self, state: PrefixState) -> None:
        """Keep a prefix's KV cache computed earlier; ValueError when it does not fit."""
        s = self._shape.text
        shape = (1, s.kv_heads, len(state.ids), s.head_dim)
        if len(state.layers) != s.layers or any(
            tuple(k.shape) != shape or tuple(v.shape) != shape for k, v in state.layers
        ):
            raise ValueError(f"the prefix cache is not {s.layers} layers of {shape}")
        layers = [(self._from_numpy(k), self._from_numpy(v)) for k, v in state.layers]
        self._prefixes.put(prefix_key(state.ids, state.frame_keys), self._cache_from(layers))
