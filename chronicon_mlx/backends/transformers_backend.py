"""The transformers backend: SmolVLM2 with torch on CUDA, MPS (float32) or the CPU.

It needs neither torchvision nor torchcodec: frames go through the PIL image processor with
image splitting off, and each ``<image>`` placeholder is expanded with transformers' own
SmolVLM helper, so the ids match the MLX backend's token for token.
"""

from __future__ import annotations

import resource
import sys
import time
from typing import TYPE_CHECKING, Any

from ..errors import BackendError, field
from .base import (
    BackendInfo,
    GenerationOutput,
    GenerationRequest,
    TokenCallback,
    cacheable_prefix_length,
    package_version,
    quiet_libraries,
    use_video_pixel_path,
)

if TYPE_CHECKING:
    from ..model.resolver import ModelRef

DEFAULT_DTYPES = {"cuda": "bfloat16", "mps": "float32", "cpu": "float32"}


def cuda_available() -> bool:
    """True when torch sees an NVIDIA GPU."""
    import torch

    return bool(torch.cuda.is_available())


def mps_available() -> bool:
    """True when torch can use Apple's Metal Performance Shaders."""
    import torch

    return bool(getattr(torch.backends, "mps", None) and torch.backends.mps.is_available())


def resolve_device(device: str) -> str:
    """auto → cuda, then mps, then cpu; an explicit device that is missing is an error."""
    if device == "auto":
        if cuda_available():
            return "cuda"
        return "mps" if mps_available() else "cpu"
    if device == "cuda" and not cuda_available():
        raise BackendError(
            f"{field('device', 'cuda')} was asked for, but torch sees no CUDA GPU",
            hint=f"use {field('device', 'cpu')}, or install a CUDA build of torch on an NVIDIA"
            " machine",
        )
    if device == "mps" and not mps_available():
        raise BackendError(
            f"{field('device', 'mps')} was asked for, but MPS is not available on this machine",
            hint=f"MPS needs Apple Silicon and macOS 12.3+; use {field('device', 'cpu')}",
        )
    if device not in ("cuda", "mps", "cpu"):
        raise BackendError(
            f"the transformers backend cannot run on '{device}'", hint="use cuda, mps or cpu"
        )
    return device


class _Streamer:
    """Receives generate()'s tokens: times the first one and forwards text."""

    def __init__(self, tokenizer: Any, on_token: TokenCallback | None) -> None:
        self.tokenizer = tokenizer
        self.on_token = on_token
        self.prompt_seen = False
        self.first_token_at = 0.0
        self.tokens: list[int] = []

    def put(self, value: Any) -> None:
        if not self.prompt_seen:
            self.prompt_seen = True
            return
        if not self.first_token_at:
            self.first_token_at = time.perf_counter()
        for token in value.reshape(-1).tolist():
            self.tokens.append(int(token))
            if self.on_token is not None:
                self.on_token(self.tokenizer.decode([int(token)]))

    def end(self) -> None:
        pass


class TransformersBackend:
    """SmolVLM2 through transformers' AutoModelForImageTextToText (JSON-schema requests are
    constrained with llguidance, as in the MLX backend)."""

    supports_json_schema = True

    def __init__(self, dtype: str = "auto", device: str = "auto") -> None:
        quiet_libraries()
        resolved = resolve_device(device)
        chosen = DEFAULT_DTYPES[resolved] if dtype == "auto" else dtype
        self.info = BackendInfo(
            name="transformers",
            device=resolved,
            dtype=chosen,
            details={
                "torch": package_version("torch"),
                "transformers": package_version("transformers"),
            },
        )
        self._model: Any = None
        self._tokenizer: Any = None
        self._image_processor: Any = None
        self._image_seq_len = 0
        self._llg_tokenizer: Any = None
        self._prefix: tuple[list[int], Any] | None = None
        self._cache_kwarg = "past_key_values"

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
        use_video_pixel_path(self._image_processor, model)
        self._image_seq_len = model.tokens_per_frame
        self._cache_kwarg = _cache_kwarg(self._model)
        return notes

    def _inputs(self, request: GenerationRequest) -> dict[str, Any]:
        from PIL import Image
        from transformers.models.smolvlm.processing_smolvlm import get_image_prompt_string

        if self._model is None:
            raise BackendError("the transformers backend was used before load()")
        expanded = get_image_prompt_string(
            0,
            0,
            self._image_seq_len,
            fake_token_around_image="<fake_token_around_image>",
            image_token="<image>",
            global_image_token="<global-img>",
        )
        text = request.prompt.replace("<image>", expanded)
        encoded = self._tokenizer(text, return_tensors="pt", add_special_tokens=False)
        images = [Image.fromarray(frame) for frame in request.frames]
        pixels = self._image_processor(images, return_tensors="pt")
        inputs = {**encoded, **pixels}
        device, dtype = self.info.device, self._model.dtype
        return {
            key: value.to(device, dtype=dtype) if key == "pixel_values" else value.to(device)
            for key, value in inputs.items()
        }

    def prompt_ids(self, request: GenerationRequest) -> list[int]:
        """Token ids fed to the model, with each frame's ``<image>`` expanded."""
        ids: list[int] = self._inputs(request)["input_ids"][0].tolist()
        return ids

    def generate(
        self, request: GenerationRequest, on_token: TokenCallback | None = None
    ) -> GenerationOutput:
        """Preprocess, then model.generate with a streamer that times the first token."""
        import torch

        if self.info.device == "cuda":
            torch.cuda.reset_peak_memory_stats()
        if request.seed is not None:
            torch.manual_seed(request.seed)
        start = time.perf_counter()
        inputs = self._inputs(request)
        preprocess_s = time.perf_counter() - start
        streamer = _Streamer(self._tokenizer, on_token)
        options: dict[str, Any] = {"max_new_tokens": request.max_tokens, "streamer": streamer}
        if request.temperature > 0:
            options.update(do_sample=True, temperature=request.temperature, top_p=1.0, top_k=0)
        else:
            options.update(do_sample=False, temperature=None, top_p=None, top_k=None)
        if request.ignore_eos:
            options.update(eos_token_id=None, min_new_tokens=request.max_tokens)
        if request.json_schema is not None:
            options["logits_processor"] = [self._json_processor(request.json_schema)]
        cached = 0
        if request.prefix:
            cached, options[self._cache_kwarg] = self._prefix_cache(inputs["input_ids"], request)
        start = time.perf_counter()
        with torch.inference_mode():
            self._model.generate(**inputs, **options)
        end = time.perf_counter()
        first = streamer.first_token_at or end
        prefill_s, decode_s = first - start, end - first
        token_ids = streamer.tokens
        eos = set(_as_list(self._model.generation_config.eos_token_id))
        stopped = bool(token_ids) and token_ids[-1] in eos and not request.ignore_eos
        answer_ids = token_ids[:-1] if stopped else token_ids
        prompt_tokens = int(inputs["input_ids"].shape[1])
        return GenerationOutput(
            text=self._tokenizer.decode(answer_ids).strip(),
            token_ids=token_ids,
            prompt_tokens=prompt_tokens,
            generated_tokens=len(token_ids),
            prompt_tps=prompt_tokens / prefill_s if prefill_s > 0 else 0.0,
            generation_tps=len(token_ids) / decode_s if decode_s > 0 else 0.0,
            peak_memory_gb=self._peak_memory_gb(),
            finish_reason="stop" if stopped else "length",
            stages={"preprocess": preprocess_s, "prefill": prefill_s, "generate": decode_s},
            constrained=request.json_schema is not None,
            cached_tokens=cached,
        )

    def _prefix_cache(self, input_ids: Any, request: GenerationRequest) -> tuple[int, Any]:
        """A copy of the shared prefix's KV cache (prefilled once); (tokens, cache).

        generate() then prefills only the rest of the prompt. Only tokens before the first
        image are cached, so every request's frames go through the vision tower.
        """
        import copy

        import torch
        from transformers import DynamicCache

        ids: list[int] = input_ids[0].tolist()
        if self._prefix is None or ids[: len(self._prefix[0])] != self._prefix[0]:
            wanted = self._tokenizer(request.prefix, add_special_tokens=False)["input_ids"]
            length = cacheable_prefix_length(wanted, ids, self._model.config.image_token_id)
            cache = DynamicCache(config=self._model.config.get_text_config())
            if length:
                with torch.inference_mode():
                    prefix = {"input_ids": input_ids[:, :length], self._cache_kwarg: cache}
                    self._model(**prefix, use_cache=True)
            self._prefix = (ids[:length], cache)
        known, cache = self._prefix
        if not known:
            return 0, None
        return len(known), copy.deepcopy(cache)

    def _json_processor(self, schema: dict[str, Any]) -> Any:
        """A logits processor that only lets through tokens that keep the JSON valid."""
        import json

        import llguidance
        import llguidance.hf

        if self._llg_tokenizer is None:
            self._llg_tokenizer = llguidance.hf.from_tokenizer(self._tokenizer)
        grammar = llguidance.JsonCompiler(separators=(", ", ": "), whitespace_pattern="").compile(
            json.dumps(schema)
        )
        return _JsonConstraint(llguidance.LLMatcher(self._llg_tokenizer, grammar))

    def _peak_memory_gb(self) -> float:
        import torch

        if self.info.device == "cuda":
            return float(torch.cuda.max_memory_allocated()) / 1e9
        if self.info.device == "mps":
            return float(torch.mps.driver_allocated_memory()) / 1e9
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return rss / 1e9 if sys.platform == "darwin" else rss * 1024 / 1e9


class _JsonConstraint:
    """A transformers logits processor driven by an llguidance matcher (batch of one)."""

    def __init__(self, matcher: Any) -> None:
        self.matcher = matcher
        self.prompt_length: int | None = None
        self.bitmask: Any = None

    def __call__(self, input_ids: Any, scores: Any) -> Any:
        import llguidance.torch

        if self.prompt_length is None:
            self.prompt_length = int(input_ids.shape[1])
            self.bitmask = llguidance.torch.allocate_token_bitmask(1, scores.shape[-1])
        else:
            self.matcher.consume_token(int(input_ids[0, -1]))
        llguidance.torch.fill_next_token_bitmask(self.matcher, self.bitmask, 0)
        mask = self.bitmask.to(scores.device)
        llguidance.torch.apply_token_bitmask_inplace(scores, mask)
        return scores


def _cache_kwarg(model: Any) -> str:
    """The keyword the model takes a KV cache by: ``cache`` in current transformers (which
    warns about the older ``past_key_values``), else ``past_key_values``."""
    import inspect

    return "cache" if "cache" in inspect.signature(model.forward).parameters else "past_key_values"


def _as_list(value: Any) -> list[int]:
    if value is None:
        return []
    return [int(v) for v in value] if isinstance(value, (list, tuple)) else [int(value)]
