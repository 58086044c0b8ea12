"""The transformers backend: SmolVLM2 through transformers' own model classes, on CUDA, MPS or
the CPU; the reference the cpu engine is compared with token for token.

It needs neither torchvision nor torchcodec: frames go through the PIL image processor with
image splitting off, and each ``<image>`` placeholder is expanded as SmolVLM2's processor
does, so the ids match the other backends' token for token.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from ..errors import BackendError
from ..model.prompt import expand_images
from ..model.shapes import ModelShape
from ..progress import quiet_libraries
from .base import (
    BackendInfo,
    GenerationOutput,
    GenerationRequest,
    TokenCallback,
    Tuning,
    package_version,
    use_video_pixel_path,
)
from .reuse import FEATURE_CACHE_FRAMES, LRU, PREFIX_CACHES, Plan
from .torch_decode import generate_with, greedy, model_forward, plain_greedy
from .torch_prefill import TransformersState, encode_frames
from .torch_support import (
    Streamer,
    as_list,
    bitsandbytes,
    cache_kwarg,
    crop,
    json_constraint,
    llguidance_tokenizer,
    peak_memory_gb,
    resolve_device,
)

if TYPE_CHECKING:
    from ..model.resolver import ModelRef

DEFAULT_DTYPES = {"cuda": "bfloat16", "mps": "float32", "cpu": "float32"}


class TransformersBackend(TransformersState):
    """SmolVLM2 through transformers' AutoModelForImageTextToText (JSON-schema requests are
    constrained with llguidance). Greedy answers decode in a loop over the model's own
    forward, token for token generate()'s; `greedy_loop=False` decodes every answer with
    model.generate instead."""

    supports_json_schema = True

    def __init__(
        self,
        dtype: str = "auto",
        device: str = "auto",
        tuning: Tuning | None = None,
        greedy_loop: bool = True,
    ) -> None:
        quiet_libraries()
        self.greedy_loop = greedy_loop
        resolved = resolve_device(device)
        chosen = DEFAULT_DTYPES[resolved] if dtype == "auto" else dtype
        versions = {
            "torch": package_version("torch"),
            "transformers": package_version("transformers"),
        }
        self.info = BackendInfo("transformers", resolved, chosen, numerics=versions)
        self._model: Any = None
        self._tokenizer: Any = None
        self._image_processor: Any = None
        self._shape = ModelShape.of({})
        self._image_token = -1
        self._llg_tokenizer: Any = None
        self._features: LRU[Any] = LRU(FEATURE_CACHE_FRAMES)
        self._prefixes: LRU[Any] = LRU(PREFIX_CACHES)
        self._cache_kwarg = "past_key_values"
        self._generation: Any = None

    def load(self, model: ModelRef, quantize: str | None = None) -> list[str]:
        """Load tokenizer, PIL image processor and weights; move them to the device.

        4/8-bit runs through bitsandbytes on CUDA only; elsewhere the request is noted and
        the model runs in the device's best dtype.
        """
        import torch
        from transformers import AutoImageProcessor, AutoModelForImageTextToText, AutoTokenizer

        quiet_libraries()
        notes: list[str] = []
        options: dict[str, Any] = {"dtype": getattr(torch, self.info.dtype)}
        if quantize in ("4bit", "8bit", "int8"):
            notes += bitsandbytes(quantize, self.info, options)
        path = str(model.path)
        try:
            local = {"trust_remote_code": False, "local_files_only": True}
            self._tokenizer = AutoTokenizer.from_pretrained(path, **local)
            self._image_processor = AutoImageProcessor.from_pretrained(path, backend="pil", **local)
            self._model = AutoModelForImageTextToText.from_pretrained(path, **local, **options)
        except (OSError, ValueError, KeyError, RuntimeError) as exc:
            raise BackendError(
                f"transformers could not load {model.name}: {exc}",
                hint="the checkpoint may be damaged or in MLX-only format",
            ) from exc
        if "device_map" not in options:
            self._model.to(self.info.device)
        self._model.eval()
        use_video_pixel_path(self._image_processor, model)
        self._shape = model.shape
        self._image_token = int(self._model.config.image_token_id)
        self._cache_kwarg = cache_kwarg(self._model)
        self._generation = self._model.generation_config
        return notes

    def _ids(self, text: str) -> list[int]:
        """Token ids of prompt text, each frame's ``<image>`` expanded as the processor does."""
        if self._tokenizer is None:
            raise BackendError("the transformers backend was used before load()")
        expanded = expand_images(text, self._shape.tokens_per_frame)
        ids: list[int] = self._tokenizer(expanded, add_special_tokens=False)["input_ids"]
        return ids

    def prompt_ids(self, request: GenerationRequest) -> list[int]:
        """Token ids fed to the model, with each frame's ``<image>`` expanded."""
        return self._ids(request.prompt)

    def generate(
        self, request: GenerationRequest, on_token: TokenCallback | None = None
    ) -> GenerationOutput:
        """Prefill through the last frame (reusing what earlier requests left), then decode:
        greedy answers in a loop over the model's forward, sampled ones with
        model.generate."""
        import torch

        if self.info.device == "cuda":
            torch.cuda.reset_peak_memory_stats()
        if request.seed is not None:
            torch.manual_seed(request.seed)
        started = time.perf_counter()
        step, keys = self._plan(request)
        missing = [i for i, key in enumerate(keys) if self._features.get(key) is None]
        pixels = self._pixels(request, missing) if missing else None
        stages = {"preprocess": time.perf_counter() - started}
        eos = set(as_list(self._generation.eos_token_id))
        start = time.perf_counter()
        with torch.inference_mode():
            if pixels is not None:
                features = encode_frames(self._model, *pixels, self._shape.tokens_per_frame)
                for index, frame in zip(missing, features, strict=True):
                    self._features.put(keys[index], frame)
            stages["vision"] = time.perf_counter() - start
            cache, reused = self._head(step, keys)
            if self.greedy_loop and request.temperature <= 0 and plain_greedy(self._generation):
                tokens, first = self._decode_greedy(request, step, cache, eos, on_token)
            else:
                tokens, first = self._decode_generate(request, step, cache, on_token)
        if step.reuse:
            crop(cache, step.reuse)
            self._prefixes.put(step.cache_key, cache)
        return self._output(
            request, step, tokens, eos, (start, first), stages, reused, len(missing)
        )

    def _output(
        self,
        request: GenerationRequest,
        step: Plan,
        tokens: list[int],
        eos: set[int],
        times: tuple[float, float],
        stages: dict[str, float],
        reused: int,
        encoded: int,
    ) -> GenerationOutput:
        """The output of a request whose prompt was computed from `times[0]` (`reused`
        tokens of it kept from before) and whose first token came at `times[1]`."""
        end = time.perf_counter()
        start, first = times[0], times[1] or end
        prefill_s, decode_s = first - start - stages["vision"], end - first
        stopped = bool(tokens) and tokens[-1] in eos and not request.ignore_eos
        computed = len(step.ids) - reused
        return GenerationOutput(
            text=self._tokenizer.decode(tokens[:-1] if stopped else tokens).strip(),
            token_ids=tokens,
            prompt_tokens=len(step.ids),
            generated_tokens=len(tokens),
            prompt_tps=computed / prefill_s if prefill_s > 0 else 0.0,
            generation_tps=len(tokens) / decode_s if decode_s > 0 else 0.0,
            peak_memory_gb=peak_memory_gb(self.info.device),
            finish_reason="stop" if stopped else "length",
            stages={**stages, "prefill": prefill_s, "generate": decode_s},
            constrained=request.json_schema is not None,
            cached_tokens=step.reuse,
            reused_tokens=reused,
            encoded_frames=encoded,
        )

    def _decode_greedy(
        self,
        request: GenerationRequest,
        step: Plan,
        cache: Any,
        eos: set[int],
        on_token: TokenCallback | None,
    ) -> tuple[list[int], float]:
        mask = self._json_processor(request.json_schema) if request.json_schema else None

        def piece(token: int) -> None:
            if on_token is not None:
                on_token(self._tokenizer.decode([token]))

        stop = set() if request.ignore_eos else eos
        forward = model_forward(self._model, cache, self._cache_kwarg)
        return greedy(forward, step.ids[step.head :], request.max_tokens, stop, mask, piece)

    def _decode_generate(
        self, request: GenerationRequest, step: Plan, cache: Any, on_token: TokenCallback | None
    ) -> tuple[list[int], float]:
        streamer = Streamer(self._tokenizer, on_token)
        mask = self._json_processor(request.json_schema) if request.json_schema else None
        generate_with(self._model, step.ids, cache, self._cache_kwarg, request, streamer, mask)
        return streamer.tokens, streamer.first_token_at

    def _pixels(self, request: GenerationRequest, missing: list[int]) -> tuple[Any, Any]:
        """The image processor's pixels (and mask) for the frames not kept yet."""
        from PIL import Image

        data = self._image_processor(
            [Image.fromarray(request.frames[i]) for i in missing], return_tensors="pt"
        )
        values = data["pixel_values"].to(self.info.device, dtype=self._model.dtype)
        mask = data.get("pixel_attention_mask")
        return values, None if mask is None else mask.to(self.info.device)

    def _json_processor(self, schema: dict[str, Any]) -> Any:
        """A logits processor that only lets through tokens that keep the JSON valid."""
        if self._llg_tokenizer is None:
            self._llg_tokenizer = llguidance_tokenizer(self._tokenizer)
        return json_constraint(self._llg_tokenizer, schema)
