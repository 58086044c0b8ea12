"""The MLX backend: SmolVLM2 through mlx-vlm's Python API, in process."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from ..errors import BackendError
from ..model.prompt import expand_images
from ..model.shapes import ModelShape
from ..native import blas
from ..progress import quiet_libraries
from . import mlx_vision
from .base import (
    BackendInfo,
    GenerationOutput,
    GenerationRequest,
    TokenCallback,
    Tuning,
    package_version,
    use_video_pixel_path,
)
from .mlx_quantize import quantized_copy
from .mlx_support import eos_disabled, first_dtype, portable_processor, select_device
from .reuse import FEATURE_CACHE_FRAMES, LRU, PREFILL_CHUNK, PREFIX_CACHES, KeptState, Plan

if TYPE_CHECKING:
    from ..model.resolver import ModelRef

DTYPES = ("float32", "float16", "bfloat16")


class MLXBackend(KeptState):
    """mlx-vlm on Metal (Apple Silicon) or on the CPU (float32 there: no fast bf16 path).

    Keeps the KV cache of a request's shared `prefix` and prefills only the rest of later
    requests with the same prefix; constrains decoding to a JSON schema with llguidance.
    """

    supports_json_schema = True

    def __init__(
        self, dtype: str = "auto", device: str = "auto", tuning: Tuning | None = None
    ) -> None:
        quiet_libraries()
        self.tuning = tuning or Tuning()
        blas_library = blas.preload(self.tuning.blas)
        import mlx.core as mx

        self._mx = mx
        device = select_device(mx, device)
        if dtype == "auto":
            dtype = "float32" if device == "cpu" else "checkpoint"
        self.info = BackendInfo(
            name="mlx",
            device=device,
            dtype=dtype,
            numerics={
                "mlx": package_version("mlx"),
                "mlx_vlm": package_version("mlx-vlm"),
                "blas": blas_library,
            },
        )
        from mlx_vlm.vision_cache import VisionFeatureCache

        self._model: Any = None
        self._processor: Any = None
        self._image_token = -1
        self._shape = ModelShape.of({})
        self._state_dtype: Any = mx.float32
        self._features: Any = VisionFeatureCache(max_size=FEATURE_CACHE_FRAMES)
        self._prefixes: LRU[list[Any]] = LRU(PREFIX_CACHES)
        self._grammars: dict[str, Any] = {}

    def load(self, model: ModelRef, quantize: str | None = None) -> list[str]:
        """Load weights and processor with mlx_vlm.load; frames are never tiled.

        With `quantize` ("4bit"/"8bit") a full-precision checkpoint is converted once with
        mlx-vlm's converter into the cache and the converted copy is loaded.
        """
        from mlx_vlm import load

        quiet_libraries()
        notes: list[str] = []
        path = model.path
        if quantize in ("4bit", "8bit"):
            if model.config.get("quantization"):
                notes.append(f"{model.name} is already quantized; using it as it is")
            else:
                path, built = quantized_copy(model, int(quantize[0]))
                verb = "converted" if built else "using the cached"
                notes.append(f"{verb} {quantize} MLX copy of {model.name}: {path}")
        try:
            self._model, self._processor = load(str(path), trust_remote_code=False)
        except (ValueError, KeyError, FileNotFoundError, RuntimeError) as exc:
            raise BackendError(
                f"mlx-vlm could not load {model.name}: {exc}",
                hint="the checkpoint may be damaged or of an unsupported format",
            ) from exc
        use_video_pixel_path(self._processor.image_processor, model)
        self._shape = model.shape
        self._image_token = int(self._model.config.image_token_index)
        if self.info.dtype in DTYPES:
            self._model.set_dtype(getattr(self._mx, self.info.dtype))
        else:
            dtype = first_dtype(self._model)
            self.info = BackendInfo(
                self.info.name, self.info.device, dtype, self.info.details, self.info.numerics
            )
        embed = self._model.language_model.embed_tokens
        self._state_dtype = embed(self._mx.array([[0]])).dtype
        if self.info.device == "cpu":
            streams = mlx_vision.stream_count(self.tuning.vision_streams)
            installed = mlx_vision.install(self._model, streams)
            self.info.details["vision_streams"] = str(streams if installed else 1)
        return notes

    def _ids(self, text: str) -> list[int]:
        """Token ids of prompt text, each frame's ``<image>`` expanded as the processor does."""
        if self._model is None:
            raise BackendError("the MLX backend was used before load()")
        expanded = expand_images(text, self._shape.tokens_per_frame)
        ids: list[int] = self._processor.tokenizer(expanded, add_special_tokens=False)["input_ids"]
        return ids

    def prompt_ids(self, request: GenerationRequest) -> list[int]:
        """Token ids fed to the model for `request` (each frame's ``<image>`` expanded)."""
        return self._ids(request.prompt)

    def generate(
        self, request: GenerationRequest, on_token: TokenCallback | None = None
    ) -> GenerationOutput:
        """Prefill through the last frame (reusing what earlier requests left), then decode
        with mlx_vlm.stream_generate."""
        mx = self._mx
        mx.reset_peak_memory()
        if request.seed is not None:
            mx.random.seed(request.seed)
        start = time.perf_counter()
        step, keys = self._plan(request)
        pixels = self._pixels(request, keys)
        extra: dict[str, Any] = {}
        if request.json_schema is not None:
            extra["logits_processors"] = [self._json_processor(request.json_schema)]
        preprocess_s = time.perf_counter() - start
        start = time.perf_counter()
        cache, reused, encoded, vision_s = self._head(step, keys, pixels)
        extra["prompt_cache"] = cache
        rest = mx.array([step.ids[step.head :]])
        with eos_disabled(self._processor.tokenizer, request.ignore_eos):
            last, first_token_s = self._stream(request, rest, extra, start, on_token)
        total_s = time.perf_counter() - start
        self._keep(step, cache)
        if last is None:
            raise BackendError("mlx-vlm produced no output")
        token_ids = [int(t) for t in (last.token_ids or [])]
        answer_ids = token_ids[:-1] if last.finish_reason == "stop" else token_ids
        computed = len(step.ids) - reused
        prefill_s = first_token_s - vision_s
        return GenerationOutput(
            cached_tokens=step.reuse,
            reused_tokens=reused,
            constrained=request.json_schema is not None,
            text=self._processor.tokenizer.decode(answer_ids).strip(),
            token_ids=token_ids,
            prompt_tokens=len(step.ids),
            generated_tokens=int(last.generation_tokens),
            prompt_tps=computed / prefill_s if prefill_s > 0 else 0.0,
            generation_tps=float(last.generation_tps),
            peak_memory_gb=float(mx.get_peak_memory()) / 1e9,
            finish_reason=str(last.finish_reason or "length"),
            stages={
                "preprocess": preprocess_s,
                "vision": vision_s,
                "prefill": prefill_s,
                "generate": max(0.0, total_s - first_token_s),
            },
            encoded_frames=encoded,
        )

    def _pixels(self, request: GenerationRequest, keys: list[str]) -> dict[str, Any] | None:
        """The processor's pixels for the frames whose features are not kept yet."""
        from PIL import Image

        missing = [i for i, key in enumerate(keys) if self._features.get(key) is None]
        if not missing:
            return None
        images = [Image.fromarray(request.frames[i]) for i in missing]
        data = self._processor.image_processor(images, return_tensors="np")
        return {"missing": missing, **data}

    def _head(
        self, step: Plan, keys: list[str], pixels: dict[str, Any] | None
    ) -> tuple[list[Any], int, int, float]:
        """The KV cache through the head: the kept prefix when one matches, the rest
        prefilled from text embeddings and frame features; (cache, tokens reused, frames
        encoded now, seconds in the vision tower)."""
        from mlx_vlm.models import cache as kv_cache

        started = time.perf_counter()
        encoded = self._encode(keys, pixels)
        vision_s = time.perf_counter() - started
        cache = self._prefixes.get(step.cache_key) if step.reuse else None
        start = step.reuse if cache is not None else 0
        if cache is None:
            cache = kv_cache.make_prompt_cache(self._model.language_model)
        else:
            for layer in cache:
                if layer.offset > step.reuse:
                    layer.trim(layer.offset - step.reuse)
        first_frame = sum(1 for t in step.ids[:start] if t == self._image_token)
        first_frame //= self._shape.tokens_per_frame
        features = [self._features.get(key) for key in keys[first_frame:]]
        self._prefill(step.ids[start : step.head], features, cache)
        return cache, start, encoded, vision_s

    def _encode(self, keys: list[str], pixels: dict[str, Any] | None) -> int:
        """Run the vision tower (and connector) on the frames not kept yet; keep each
        frame's features; return how many frames were encoded."""
        if pixels is None:
            return 0
        mx = self._mx
        values = mx.array(pixels["pixel_values"])
        count = int(values.shape[1])
        extra = {}
        if pixels.get("pixel_attention_mask") is not None:
            extra["pixel_attention_mask"] = mx.array(pixels["pixel_attention_mask"])
        slots = mx.array([[self._image_token] * (count * self._shape.tokens_per_frame)])
        embeds = self._model.get_input_embeddings(slots, values, **extra).inputs_embeds
        mx.eval(embeds)
        size = self._shape.tokens_per_frame
        for n, index in enumerate(pixels["missing"]):
            self._features.put(keys[index], embeds[0, n * size : (n + 1) * size])
        return count

    def _prefill(self, ids: list[int], features: list[Any], cache: list[Any]) -> None:
        """Run `ids` through the language model into `cache`, each frame's image tokens
        embedded with its features, in chunks."""
        if not ids:
            return
        mx = self._mx
        embed = self._model.language_model.embed_tokens
        parts, frame, i = [], 0, 0
        while i < len(ids):
            if ids[i] == self._image_token:
                parts.append(features[frame])
                frame += 1
                i += self._shape.tokens_per_frame
                continue
            j = next((k for k in range(i, len(ids)) if ids[k] == self._image_token), len(ids))
            parts.append(embed(mx.array([ids[i:j]]))[0])
            i = j
        embeds = mx.concatenate(parts, axis=0)[None]
        tokens = mx.array([ids])
        for a in range(0, len(ids), PREFILL_CHUNK):
            b = min(len(ids), a + PREFILL_CHUNK)
            self._model.language_model(tokens[:, a:b], inputs_embeds=embeds[:, a:b], cache=cache)
            mx.eval([layer.state for layer in cache])

    def _keep(self, step: Plan, cache: list[Any]) -> None:
        """Keep the cache for the next request with the same prefix (trimmed back to it)."""
        if step.reuse:
            for layer in cache:
                if layer.offset > step.reuse:
                    layer.trim(layer.offset - step.reuse)
            self._prefixes.put(step.cache_key, cache)

    def _to_numpy(self, value: Any) -> Any:
        import numpy as np

        mx = self._mx
        return np.array(value.astype(mx.float32) if value.dtype == mx.bfloat16 else value)

    def _from_numpy(self, array: Any) -> Any:
        return self._mx.array(array).astype(self._state_dtype)

    def _cache_layers(self, cache: Any) -> list[tuple[Any, Any]]:
        return [layer.state for layer in cache]

    def _cache_from(self, layers: list[tuple[Any, Any]]) -> Any:
        from mlx_vlm.models import cache as kv_cache

        cache = kv_cache.make_prompt_cache(self._model.language_model)
        for layer, state in zip(cache, layers, strict=True):
            layer.state = state
        return cache

    def bare_generate(self, request: GenerationRequest) -> str:
        """mlx-vlm's own ``generate`` on the request's frames and prompt, with none of this
        backend's work around it (the benchmark measures the difference)."""
        from mlx_vlm import generate
        from PIL import Image

        images = [Image.fromarray(frame) for frame in request.frames]
        with eos_disabled(self._processor.tokenizer, request.ignore_eos):
            result = generate(
                self._model,
                self._processor,
                request.prompt,
                image=images,
                max_tokens=request.max_tokens,
                temperature=request.temperature,
                verbose=False,
            )
        return str(getattr(result, "text", result))

    def _json_processor(self, schema: dict[str, Any]) -> Any:
        """A fresh llguidance logits processor for `schema` (the grammar is compiled once)."""
        import json

        key = json.dumps(schema, sort_keys=True)
        if key not in self._grammars:
            from mlx_vlm.structured import build_json_schema_logits_processor

            self._grammars[key] = build_json_schema_logits_processor(
                self._processor.tokenizer, schema
            )
        template = self._grammars[key]
        if self.info.device == "metal":
            return template.clone()
        return portable_processor(template)

    def _stream(
        self,
        request: GenerationRequest,
        rest: Any,
        extra: dict[str, Any],
        start: float,
        on_token: TokenCallback | None,
    ) -> tuple[Any, float]:
        from mlx_vlm import stream_generate

        first_token_s = 0.0
        last: Any = None
        for result in stream_generate(
            self._model,
            self._processor,
            request.prompt,
            input_ids=rest,
            pixel_values=None,
            mask=None,
            max_tokens=request.max_tokens,
            temperature=request.temperature,
            **extra,
        ):
            if not first_token_s:
                first_token_s = time.perf_counter() - start
            if on_token is not None and result.finish_reason is None:
                on_token(result.text)
            last = result
        return last, first_token_s
