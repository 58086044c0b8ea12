"""The MLX backend: SmolVLM2 through mlx-vlm's Python API, in process."""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import BackendError, field
from ..machine import nvidia_gpu_present
from . import blas, mlx_vision
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

DTYPES = ("float32", "float16", "bfloat16")


class MLXBackend:
    """mlx-vlm on Metal (Apple Silicon) or on the CPU (float32 there: no fast bf16 path).

    Keeps the KV cache of a request's shared `prefix` and prefills only the rest of later
    requests with the same prefix; constrains decoding to a JSON schema with llguidance.
    """

    supports_json_schema = True

    def __init__(self, dtype: str = "auto", device: str = "auto") -> None:
        quiet_libraries()
        blas_library = blas.preload()
        import mlx.core as mx

        self._mx = mx
        device = _select_device(mx, device)
        if dtype == "auto":
            dtype = "float32" if device == "cpu" else "checkpoint"
        self.info = BackendInfo(
            name="mlx",
            device=device,
            dtype=dtype,
            details={
                "mlx": package_version("mlx"),
                "mlx_vlm": package_version("mlx-vlm"),
                "blas": blas_library,
            },
        )
        self._model: Any = None
        self._processor: Any = None
        self._prefix: tuple[list[int], list[Any]] | None = None
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
        if self.info.dtype in DTYPES:
            self._model.set_dtype(getattr(self._mx, self.info.dtype))
        else:
            dtype = _first_dtype(self._model)
            self.info = BackendInfo(self.info.name, self.info.device, dtype, self.info.details)
        if self.info.device == "cpu":
            streams = mlx_vision.stream_count()
            installed = mlx_vision.install(self._model, streams)
            self.info.details["vision_streams"] = str(streams if installed else 1)
        return notes

    def _inputs(self, request: GenerationRequest) -> dict[str, Any]:
        from mlx_vlm import prepare_inputs
        from mlx_vlm.utils import should_add_special_tokens
        from PIL import Image

        if self._model is None:
            raise BackendError("the MLX backend was used before load()")
        images = [Image.fromarray(frame) for frame in request.frames]
        inputs: dict[str, Any] = prepare_inputs(
            self._processor,
            images=images,
            prompts=request.prompt,
            image_token_index=getattr(self._model.config, "image_token_index", None),
            add_special_tokens=should_add_special_tokens(
                self._model.config.model_type, self._processor
            ),
        )
        return inputs

    def prompt_ids(self, request: GenerationRequest) -> list[int]:
        """Token ids after the processor expanded each frame's ``<image>``."""
        ids: list[int] = self._inputs(request)["input_ids"].flatten().tolist()
        return ids

    def generate(
        self, request: GenerationRequest, on_token: TokenCallback | None = None
    ) -> GenerationOutput:
        """Preprocess, prefill and decode one request with mlx_vlm.stream_generate."""

        mx = self._mx
        mx.reset_peak_memory()
        if request.seed is not None:
            mx.random.seed(request.seed)
        start = time.perf_counter()
        inputs = self._inputs(request)
        extra: dict[str, Any] = {
            key: value
            for key, value in inputs.items()
            if key not in ("input_ids", "pixel_values", "attention_mask")
        }
        cached = 0
        if request.prefix:
            cached, extra["prompt_cache"] = self._prefix_cache(inputs["input_ids"], request)
            inputs = {
                **inputs,
                "input_ids": inputs["input_ids"][:, cached:],
                "attention_mask": None,
            }
        if request.json_schema is not None:
            extra["logits_processors"] = [self._json_processor(request.json_schema)]
        preprocess_s = time.perf_counter() - start
        start = time.perf_counter()
        with _eos_disabled(self._processor.tokenizer, request.ignore_eos):
            last, first_token_s = self._stream(request, inputs, extra, start, on_token)
        total_s = time.perf_counter() - start
        if last is None:
            raise BackendError("mlx-vlm produced no output")
        token_ids = [int(t) for t in (last.token_ids or [])]
        answer_ids = token_ids[:-1] if last.finish_reason == "stop" else token_ids
        return GenerationOutput(
            cached_tokens=cached,
            constrained=request.json_schema is not None,
            text=self._processor.tokenizer.decode(answer_ids).strip(),
            token_ids=token_ids,
            prompt_tokens=int(last.prompt_tokens) + cached,
            generated_tokens=int(last.generation_tokens),
            prompt_tps=float(last.prompt_tps),
            generation_tps=float(last.generation_tps),
            peak_memory_gb=float(mx.get_peak_memory()) / 1e9,
            finish_reason=str(last.finish_reason or "length"),
            stages={
                "preprocess": preprocess_s,
                "prefill": first_token_s,
                "generate": max(0.0, total_s - first_token_s),
            },
        )

    def bare_generate(self, request: GenerationRequest) -> str:
        """mlx-vlm's own ``generate`` on the request's frames and prompt, with none of this
        backend's work around it (the benchmark measures the difference)."""
        from mlx_vlm import generate
        from PIL import Image

        images = [Image.fromarray(frame) for frame in request.frames]
        with _eos_disabled(self._processor.tokenizer, request.ignore_eos):
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

    def _prefix_cache(self, input_ids: Any, request: GenerationRequest) -> tuple[int, list[Any]]:
        """The KV cache holding the shared prefix, trimmed back to it; (tokens, cache).

        The prefix is prefilled once; a later request whose ids start with the same tokens
        reuses the cache after generation rolled it forward. Only tokens before the first
        image are cached, so image features are always computed for the request's frames.
        """
        from mlx_vlm.models import cache as kv_cache

        ids: list[int] = input_ids[0].tolist()
        if self._prefix is not None:
            known, cache = self._prefix
            if ids[: len(known)] == known:
                for layer in cache:
                    if layer.offset > len(known):
                        layer.trim(layer.offset - len(known))
                return len(known), cache
        wanted = self._processor.tokenizer(request.prefix, add_special_tokens=False)["input_ids"]
        image = getattr(self._model.config, "image_token_index", None)
        length = cacheable_prefix_length(wanted, ids, image)
        cache = kv_cache.make_prompt_cache(self._model.language_model)
        if length:
            head = input_ids[:, :length]
            embeddings = self._model.get_input_embeddings(head, None).inputs_embeds
            self._model.language_model(head, inputs_embeds=embeddings, cache=cache)
            self._mx.eval([layer.state for layer in cache])
        self._prefix = (ids[:length], cache)
        return length, cache

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
        return _portable_processor(template)

    def _stream(
        self,
        request: GenerationRequest,
        inputs: dict[str, Any],
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
            input_ids=inputs["input_ids"],
            pixel_values=inputs.get("pixel_values"),
            mask=inputs.get("attention_mask"),
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


def _portable_processor(template: Any) -> Any:
    """mlx-vlm's llguidance processor masks logits with a Metal kernel; on the CPU and CUDA
    the same mask is applied with mx.where."""
    import mlx.core as mx
    import numpy as np
    from mlx_vlm.structured import LLGuidanceLogitsProcessor

    class PortableProcessor(LLGuidanceLogitsProcessor):  # type: ignore[misc]
        def _apply_bitmask(self, logits: Any) -> Any:
            self._fill_next_token_mask()
            bits = np.unpackbits(
                np.asarray(self.bitmask).view(np.uint8), axis=-1, bitorder="little"
            )
            allowed = np.zeros((bits.shape[0], logits.shape[-1]), dtype=bool)
            width = min(bits.shape[1], logits.shape[-1])
            allowed[:, :width] = bits[:, :width].astype(bool)
            return mx.where(mx.array(allowed), logits, -mx.inf)

    return PortableProcessor(template.grammar, template.llg_tokenizer)


def quantized_copy(model: ModelRef, bits: int) -> tuple[Path, bool]:
    """A `bits`-bit MLX conversion of `model` in the cache: (folder, whether it was built now).

    The vision tower stays unquantized (mlx-vlm's choice). The folder is written beside its
    final place and renamed into it, so an interrupted conversion is never reused.
    """
    from mlx_vlm import convert

    from ..paths import cache_root

    source = model.path.resolve()
    weights = sorted(source.glob("*.safetensors"))
    stamp = "|".join(f"{w.name}:{w.stat().st_size}:{w.stat().st_mtime_ns}" for w in weights)
    key = hashlib.sha1(f"{source}|{stamp}|{bits}".encode()).hexdigest()[:10]
    target = cache_root() / "quantized" / f"{source.name}-{bits}bit-{key}"
    if (target / "config.json").is_file():
        return target, False
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            convert(
                hf_path=str(source),
                mlx_path=str(tmp),
                quantize=True,
                q_bits=bits,
                trust_remote_code=False,
            )
        for name in ("chat_template.json", "chat_template.jinja", "preprocessor_config.json"):
            if (source / name).is_file() and not (tmp / name).is_file():
                shutil.copy2(source / name, tmp / name)
        os.replace(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target, True


@contextlib.contextmanager
def _eos_disabled(tokenizer: Any, disabled: bool) -> Iterator[None]:
    """Let generation run to max_tokens (benchmarks need the same work every run)."""
    criteria = getattr(tokenizer, "stopping_criteria", None)
    if not disabled or criteria is None:
        yield
        return
    saved = list(criteria.eos_token_ids)
    criteria.eos_token_ids = []
    try:
        yield
    finally:
        criteria.eos_token_ids = saved


def _select_device(mx: Any, device: str) -> str:
    """Make MLX use the requested device; return "metal", "cuda" or "cpu"."""
    if device == "cpu":
        mx.set_default_device(mx.cpu)
        return "cpu"
    gpu = mx.default_device() == mx.gpu or mx.is_available(mx.gpu)
    if device == "auto":
        if not gpu:
            return "cpu"
        mx.set_default_device(mx.gpu)
        return "metal" if mx.metal.is_available() else "cuda"
    if device == "mps" and not mx.metal.is_available():
        raise BackendError(
            f"{field('device', 'mps')} was asked for, but MLX has no Metal device here",
            hint=f"Metal needs Apple Silicon; use {field('device', 'cpu')}",
        )
    cuda = getattr(mx, "cuda", None)
    if device == "cuda" and not (cuda is not None and cuda.is_available()):
        hint = (
            f"pip install 'mlx[cuda]', or use {field('backend', 'transformers')}"
            if nvidia_gpu_present()
            else f"this machine has no NVIDIA GPU: use {field('device', 'cpu')}"
        )
        raise BackendError(
            f"{field('device', 'cuda')} was asked for, but this MLX build has no CUDA support",
            hint=hint,
        )
    mx.set_default_device(mx.gpu)
    return "metal" if device == "mps" else "cuda"


def _first_dtype(model: Any) -> str:
    from mlx.utils import tree_flatten

    for _name, value in tree_flatten(model.parameters()):
        return str(value.dtype).split(".")[-1]
    return "unknown"
