"""The transformers backend's vision and prefill, through transformers' own modules: each
frame's features from the model's get_image_features, and a prompt's ids (frames as their
features) run through the text model into a KV cache."""

from __future__ import annotations

from typing import Any

from .base import BackendInfo
from .reuse import PREFILL_CHUNK, KeptState, Plan
from .torch_support import crop, from_numpy, to_numpy

# Frames per vision-tower call on the CPU: one at a time keeps the intermediates small
# enough to be reused from the heap; accelerators take them all at once.
CPU_VISION_FRAMES = 1


def encode_frames(
    model: Any, pixel_values: Any, pixel_mask: Any | None, tokens_per_frame: int
) -> list[Any]:
    """Each frame's connector output, [tokens_per_frame, hidden], for the image processor's
    `pixel_values` ([batch, frames, C, H, W], one tile per frame)."""
    import torch

    values = pixel_values.flatten(0, 1)[None]
    mask = pixel_mask.flatten(0, 1)[None] if pixel_mask is not None else None
    count = values.shape[1]
    group = CPU_VISION_FRAMES if values.device.type == "cpu" else count
    frames: list[Any] = []
    for first in range(0, count, group):
        part = slice(first, first + group)
        out = model.model.get_image_features(
            values[:, part], mask[:, part] if mask is not None else None
        )
        pooled = getattr(out, "pooler_output", out)
        if isinstance(pooled, (list, tuple)):
            pooled = torch.cat(list(pooled), dim=0)
        frames.extend(pooled.reshape(-1, tokens_per_frame, pooled.shape[-1]))
    return frames


def prefill(model: Any, ids: list[int], features: list[Any], cache: Any, cache_kwarg: str) -> None:
    """Run `ids` through the text model into `cache`, each frame's image tokens embedded
    with its features (in order), in chunks."""
    import torch

    if not ids:
        return
    image_token = int(model.config.image_token_id)
    embed = model.get_input_embeddings()
    device = embed.weight.device
    tokens_per_frame = int(features[0].shape[0]) if features else 0
    parts, frame, i = [], 0, 0
    while i < len(ids):
        if ids[i] == image_token:
            parts.append(features[frame].to(model.dtype))
            frame += 1
            i += tokens_per_frame
            continue
        j = next((k for k in range(i, len(ids)) if ids[k] == image_token), len(ids))
        parts.append(embed(torch.tensor(ids[i:j], device=device)))
        i = j
    embeds = torch.cat(parts, dim=0)[None]
    text_model = model.model.text_model
    for a in range(0, len(ids), PREFILL_CHUNK):
        b = min(len(ids), a + PREFILL_CHUNK)
        text_model(inputs_embeds=embeds[:, a:b], use_cache=True, **{cache_kwarg: cache})


class TransformersState(KeptState):
    """What the transformers backend keeps, as arrays: frame features and the layers of
    transformers' DynamicCache."""

    info: BackendInfo
    _model: Any
    _cache_kwarg: str

    def _head(self, step: Plan, keys: list[str]) -> tuple[Any, int]:
        """The KV cache through the head: the kept prefix when one matches, the rest
        prefilled from text embeddings and frame features; (cache, tokens reused)."""
        from transformers import DynamicCache

        cache = self._prefixes.get(step.cache_key) if step.reuse else None
        start = step.reuse if cache is not None else 0
        if cache is None:
            cache = DynamicCache(config=self._model.config.get_text_config())
        else:
            crop(cache, step.reuse)
        first_frame = sum(1 for t in step.ids[:start] if t == self._image_token)
        first_frame //= self._shape.tokens_per_frame
        features = [self._features.get(key) for key in keys[first_frame:]]
        prefill(self._model, step.ids[start : step.head], features, cache, self._cache_kwarg)
        return cache, start

    def _to_numpy(self, value: Any) -> Any:
        return to_numpy(value)

    def _from_numpy(self, array: Any) -> Any:
        return from_numpy(array, self.info.device, self.info.dtype)

    def _cache_layers(self, cache: Any) -> list[tuple[Any, Any]]:
        return [(layer.keys, layer.values) for layer in cache.layers]

    def _cache_from(self, layers: list[tuple[Any, Any]]) -> Any:
        from transformers import DynamicCache

        cache = DynamicCache(config=self._model.config.get_text_config())
        for number, (keys, values) in enumerate(layers):
            cache.update(keys, values, number)
        return cache
