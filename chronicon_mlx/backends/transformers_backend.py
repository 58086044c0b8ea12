"""The transformers backend: SmolVLM2 with torch on CUDA, MPS (float32) or the CPU.

It needs neither torchvision nor torchcodec: frames go through the PIL image processor with
image splitting off, and each ``<image>`` placeholder is expanded with transformers' own
SmolVLM helper, so the ids match the MLX backend's token for token.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from ..errors import BackendError
from ..model.prompt import expand_images
from ..model.shapes import ModelShape
from ..progress import quiet_libraries
from . import torch_decode_step as decode_step
from .base import (
    BackendInfo,
    GenerationOutput,
    GenerationRequest,
    TokenCallback,
    package_version,
    use_video_pixel_path,
)
from .reuse import FEATURE_CACHE_FRAMES, LRU, PREFILL_CHUNK, PREFIX_CACHES, KeptState, Plan
from .torch_decode import greedy, model_forward, plain_greedy
from .torch_support import (
    Streamer,
    as_list,
    cache_kwarg,
    crop,
    from_numpy,
    json_constraint,
    llguidance_tokenizer,
    peak_memory_gb,
    resolve_device,
    to_numpy,
)
from .torch_vision import encode_frames, onednn_wanted, prepare_tower
from .transformers_text import TextOnlyAnswers

if TYPE_CHECKING:
    from ..model.resolver import ModelRef

DEFAULT_DTYPES = {"cuda": "bfloat16", "mps": "float32", "cpu": "float32"}


class TransformersBackend(TextOnlyAnswers, KeptState):
    """SmolVLM2 through transformers' AutoModelForImageTextToText (JSON-schema requests are
    constrained with llguidance, as in the MLX backend).

    Greedy answers decode in a lean loop (on the CPU in float32, each token through a
    bandwidth-bound step over the same weights); `greedy_loop=False` decodes every answer
    with model.generate instead, token for token the same. On the CPU in float32 it can
    also load the text model alone, to answer from a cached video prefix
    (`load_text`); the rest then loads when a request needs it.
    """

    supports_json_schema = True

    def __init__(self, dtype: str = "auto", device: str = "auto", greedy_loop: bool = True) -> None:
        quiet_libraries()
        self.greedy_loop = greedy_loop
        resolved = resolve_device(device)
        chosen = DEFAULT_DTYPES[resolved] if dtype == "auto" else dtype
        self.info = BackendInfo(
            name="transformers",
            device=resolved,
            dtype=chosen,
            numerics={
                "torch": package_version("torch"),
                "transformers": package_version("transformers"),
            },
        )
        if onednn_wanted(resolved, chosen):  # known before a load: the video cache's key
            self.info.numerics["vision_kernels"] = "onednn"
        self._model: Any = None
        self._tokenizer: Any = None
        self._image_processor: Any = None
        self._shape = ModelShape.of({})
        self._image_token = -1
        self._llg_tokenizer: Any = None
        self._features: LRU[Any] = LRU(FEATURE_CACHE_FRAMES)
        self._prefixes: LRU[Any] = LRU(PREFIX_CACHES)
        self._cache_kwarg = "past_key_values"
        self._step: decode_step.DecodeStep | None = None
        self._step_supported = False
        self._ref: ModelRef | None = None
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
        if quantize in ("4bit", "8bit"):
            import importlib.util

            if self.info.device == "cuda" and importlib.util.find_spec("bitsandbytes"):
                from transformers import BitsAndBytesConfig

                options["quantization_config"] = BitsAndBytesConfig(
                    load_in_4bit=quantize == "4bit", load_in_8bit=quantize == "8bit"
                )
                options["device_map"] = "cuda"
            else:
                notes.append(
                    f"{quantize} needs bitsandbytes on CUDA with the transformers backend;"
                    f" running {self.info.dtype} on {self.info.device} instead"
                )
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
        prepare_tower(self._model, self.info.numerics)
        use_video_pixel_path(self._image_processor, model)
        self._shape = model.shape
        self._image_token = int(self._model.config.image_token_id)
        self._cache_kwarg = cache_kwarg(self._model)
        self._step_supported = self.greedy_loop and decode_step.supported(
            self._model, self.info.device, self.info.dtype
        )
        self._ref, self._generation = model, self._model.generation_config
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
        model.generate. After a text-only load, a request the text model answers alone is
        answered so; any other loads the rest first (its seconds are the "load" stage)."""
        import torch

        loading = 0.0
        if self._model is None:
            step, _keys = self._plan(request)
            if self._text_only_request(request, step):
                return self._generate_text_only(request, step, on_token)
            loading = self._load_rest()
        if self.info.device == "cuda":
            torch.cuda.reset_peak_memory_stats()
        if request.seed is not None:
            torch.manual_seed(request.seed)
        start = time.perf_counter()
        step, keys = self._plan(request)
        pixels = self._pixels(request, keys)
        preprocess_s = time.perf_counter() - start
        eos = set(as_list(self._generation.eos_token_id))
        start = time.perf_counter()
        with torch.inference_mode():
            cache, reused, encoded, vision_s = self._head(step, keys, pixels)
            if self._greedy_loop(request):
                token_ids, first = self._decode_greedy(request, step, cache, eos, on_token)
            else:
                token_ids, first = self._decode_generate(request, step, cache, on_token)
        self._keep(step, cache)
        stages = {"preprocess": preprocess_s, "vision": vision_s}
        if loading:
            stages["load"] = loading
        return self._output(request, step, token_ids, eos, start, first, stages, reused, encoded)

    def _output(
        self,
        request: GenerationRequest,
        step: Plan,
        tokens: list[int],
        eos: set[int],
        start: float,
        first: float,
        stages: dict[str, float],
        reused: int,
        encoded: int,
    ) -> GenerationOutput:
        """The output of a request whose prompt was computed from `start` (`reused` tokens
        of it kept from before) and whose first token came at `first`; `stages` holds the
        stages before `start`."""
        end = time.perf_counter()
        first = first or end
        vision_s = stages.get("vision", 0.0)
        prefill_s, decode_s = first - start - vision_s, end - first
        stopped = bool(tokens) and tokens[-1] in eos and not request.ignore_eos
        answer_ids = tokens[:-1] if stopped else tokens
        computed = len(step.ids) - reused
        return GenerationOutput(
            text=self._tokenizer.decode(answer_ids).strip(),
            token_ids=tokens,
            prompt_tokens=len(step.ids),
            generated_tokens=len(tokens),
            prompt_tps=computed / prefill_s if prefill_s > 0 else 0.0,
            generation_tps=len(tokens) / decode_s if decode_s > 0 else 0.0,
            peak_memory_gb=self._peak_memory_gb(),
            finish_reason="stop" if stopped else "length",
            stages={**stages, "prefill": prefill_s, "generate": decode_s},
            constrained=request.json_schema is not None,
            cached_tokens=step.reuse,
            encoded_frames=encoded,
        )

    def _greedy_loop(self, request: GenerationRequest) -> bool:
        """Whether the lean greedy loop gives generate()'s tokens for this request."""
        return self.greedy_loop and request.temperature <= 0 and plain_greedy(self._generation)

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

        if self._step is None and self._step_supported:
            # Built once the first vision pass is done: right after the weights are
            # re-stored, that pass ran about a tenth slower on this CPU.
            self._step = decode_step.DecodeStep.from_model(self._model)
        stop = set() if request.ignore_eos else eos
        forward = model_forward(self._model, cache, self._cache_kwarg)
        return greedy(
            forward, step.ids[step.head :], cache, request.max_tokens, stop, mask, piece, self._step
        )

    def _decode_generate(
        self, request: GenerationRequest, step: Plan, cache: Any, on_token: TokenCallback | None
    ) -> tuple[list[int], float]:
        import torch

        streamer = Streamer(self._tokenizer, on_token)
        ids = torch.tensor([step.ids], device=self.info.device)
        self._model.generate(
            input_ids=ids,
            attention_mask=torch.ones_like(ids),
            **{self._cache_kwarg: cache},
            **self._options(request, streamer),
        )
        return streamer.tokens, streamer.first_token_at

    def _options(self, request: GenerationRequest, streamer: Streamer) -> dict[str, Any]:
        options: dict[str, Any] = {"max_new_tokens": request.max_tokens, "streamer": streamer}
        if request.temperature > 0:
            options.update(do_sample=True, temperature=request.temperature, top_p=1.0, top_k=0)
        else:
            options.update(do_sample=False, temperature=None, top_p=None, top_k=None)
        if request.ignore_eos:
            options.update(eos_token_id=None, min_new_tokens=request.max_tokens)
        if request.json_schema is not None:
            options["logits_processor"] = [self._json_processor(request.json_schema)]
        return options

    def _pixels(self, request: GenerationRequest, keys: list[str]) -> dict[str, Any] | None:
        """The image processor's pixels for the frames whose features are not kept yet."""
        from PIL import Image

        missing = [i for i, key in enumerate(keys) if self._features.get(key) is None]
        if not missing:
            return None
        images = [Image.fromarray(request.frames[i]) for i in missing]
        data = self._image_processor(images, return_tensors="pt")
        device, dtype = self.info.device, self._model.dtype
        return {
            "missing": missing,
            "pixel_values": data["pixel_values"].to(device, dtype=dtype),
            "pixel_attention_mask": data.get("pixel_attention_mask"),
        }

    def _head(
        self, step: Plan, keys: list[str], pixels: dict[str, Any] | None
    ) -> tuple[Any, int, int, float]:
        """The KV cache through the head: the kept prefix when one matches, the rest
        prefilled from text embeddings and frame features; (cache, tokens reused, frames
        encoded now, seconds in the vision tower)."""
        from transformers import DynamicCache

        started = time.perf_counter()
        encoded = self._encode(keys, pixels)
        vision_s = time.perf_counter() - started
        cache = self._prefixes.get(step.cache_key) if step.reuse else None
        start = step.reuse if cache is not None else 0
        if cache is None:
            cache = DynamicCache(config=self._model.config.get_text_config())
        else:
            crop(cache, step.reuse)
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
        missing = pixels["missing"]
        features = encode_frames(
            self._model,
            pixels["pixel_values"],
            pixels.get("pixel_attention_mask"),
            self.info.device,
            self._shape.tokens_per_frame,
        )
        for index, frame in zip(missing, features, strict=True):
            self._features.put(keys[index], frame)
        return len(missing)

    def _prefill(self, ids: list[int], features: list[Any], cache: Any) -> None:
        """Run `ids` through the text model into `cache`, each frame's image tokens
        embedded with its features, in chunks."""
        import torch

        if not ids:
            return
        embed = self._model.get_input_embeddings()
        device = self.info.device
        parts, frame, i = [], 0, 0
        while i < len(ids):
            if ids[i] == self._image_token:
                parts.append(features[frame].to(self._model.dtype))
                frame += 1
                i += self._shape.tokens_per_frame
                continue
            j = next((k for k in range(i, len(ids)) if ids[k] == self._image_token), len(ids))
            parts.append(embed(torch.tensor(ids[i:j], device=device)))
            i = j
        embeds = torch.cat(parts, dim=0)[None]
        text_model = self._model.model.text_model
        for a in range(0, len(ids), PREFILL_CHUNK):
            b = min(len(ids), a + PREFILL_CHUNK)
            text_model(inputs_embeds=embeds[:, a:b], use_cache=True, **{self._cache_kwarg: cache})

    def _keep(self, step: Plan, cache: Any) -> None:
        """Keep the cache for the next request with the same prefix (cropped back to it)."""
        if step.reuse:
            crop(cache, step.reuse)
            self._prefixes.put(step.cache_key, cache)

    def _to_numpy(self, value: Any) -> Any:
        return to_numpy(value)

    def _from_numpy(self, array: Any) -> Any:
        return from_numpy(array, self.info.device, self.info.dtype)

    def _cache_layers(self, cache: Any) -> list[tuple[Any, Any]]:
        return [(layer.keys, layer.values) for layer in cache.layers]

    def _cache_from(self, layers: list[tuple[Any, Any]]) -> Any:
        if self._model is None:  # a text-only load: the decode step's own cache
            cache: Any = decode_step.StepCache(len(layers))
        else:
            from transformers import DynamicCache

            cache = DynamicCache(config=self._model.config.get_text_config())
        for number, (keys, values) in enumerate(layers):
            cache.update(keys, values, number)
        return cache

    def _json_processor(self, schema: dict[str, Any]) -> Any:
        """A logits processor that only lets through tokens that keep the JSON valid."""
        if self._llg_tokenizer is None:
            self._llg_tokenizer = llguidance_tokenizer(self._tokenizer)
        return json_constraint(self._llg_tokenizer, schema)

    def _peak_memory_gb(self) -> float:
        return peak_memory_gb(self.info.device)
