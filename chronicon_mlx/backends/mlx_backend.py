"""The MLX backend: SmolVLM2 through mlx-vlm's Python API, in process."""

from __future__ import annotations

import os
import time
from typing import TYPE_CHECKING, Any

from ..errors import BackendError
from .base import BackendInfo, GenerationOutput, GenerationRequest, TokenCallback

if TYPE_CHECKING:
    from ..models import ModelRef

DTYPES = ("float32", "float16", "bfloat16")


def _quiet_libraries() -> None:
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


class MLXBackend:
    """mlx-vlm on Metal (Apple Silicon) or on the CPU (float32 there: no fast bf16 path)."""

    def __init__(self, dtype: str = "auto") -> None:
        _quiet_libraries()
        import mlx.core as mx

        self._mx = mx
        device = "metal" if mx.default_device() == mx.gpu else "cpu"
        if dtype == "auto":
            dtype = "float32" if device == "cpu" else "checkpoint"
        self.info = BackendInfo(
            name="mlx", device=device, dtype=dtype, details={"mlx": _version("mlx")}
        )
        self._model: Any = None
        self._processor: Any = None

    def load(self, model: ModelRef) -> None:
        """Load weights and processor with mlx_vlm.load; frames are never tiled."""
        from mlx_vlm import load

        try:
            self._model, self._processor = load(str(model.path))
        except (ValueError, KeyError, FileNotFoundError, RuntimeError) as exc:
            raise BackendError(
                f"mlx-vlm could not load {model.name}: {exc}",
                hint="the checkpoint may be damaged or of an unsupported format",
            ) from exc
        self._processor.image_processor.do_image_splitting = False
        if self.info.dtype in DTYPES:
            self._model.set_dtype(getattr(self._mx, self.info.dtype))
        else:
            dtype = _first_dtype(self._model)
            self.info = BackendInfo(self.info.name, self.info.device, dtype, self.info.details)

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
        from mlx_vlm import stream_generate

        mx = self._mx
        mx.reset_peak_memory()
        if request.seed is not None:
            mx.random.seed(request.seed)
        start = time.perf_counter()
        inputs = self._inputs(request)
        extra = {
            key: value
            for key, value in inputs.items()
            if key not in ("input_ids", "pixel_values", "attention_mask")
        }
        preprocess_s = time.perf_counter() - start
        start = time.perf_counter()
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
        total_s = time.perf_counter() - start
        if last is None:
            raise BackendError("mlx-vlm produced no output")
        token_ids = [int(t) for t in (last.token_ids or [])]
        answer_ids = token_ids[:-1] if last.finish_reason == "stop" else token_ids
        return GenerationOutput(
            text=self._processor.tokenizer.decode(answer_ids).strip(),
            token_ids=token_ids,
            prompt_tokens=int(last.prompt_tokens),
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


def _first_dtype(model: Any) -> str:
    from mlx.utils import tree_flatten

    for _name, value in tree_flatten(model.parameters()):
        return str(value.dtype).split(".")[-1]
    return "unknown"


def _version(package: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(package)
    except PackageNotFoundError:
        return "unknown"
