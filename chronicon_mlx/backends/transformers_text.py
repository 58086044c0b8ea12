"""Answers from a cached video prefix with the text model alone.

When the video cache holds a video's frames and its prefilled prefix, a question about it
needs no vision tower and no image processor: only the tokenizer, the prefix's KV cache
and the text model. The transformers backend can then load just those, without importing
transformers (whose import is most of a short run's time): the checkpoint's text weights
are read for the CPU decode step (which prefills the question and decodes the answer) and
its tokenizer runs through the tokenizers library. A request that needs more (frames not
encoded yet, a JSON constraint, sampling) loads the rest first.
"""

from __future__ import annotations

import json
import time
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

from ..errors import BackendError
from .base import BackendInfo, GenerationOutput, GenerationRequest, TokenCallback
from .reuse import LRU, Plan
from .torch_decode import greedy, plain_greedy
from .torch_decode_step import DecodeStep
from .torch_support import RawTokenizer, as_list, crop

if TYPE_CHECKING:
    from ..model.resolver import ModelRef
    from ..model.shapes import ModelShape


def generation_config(model: ModelRef) -> SimpleNamespace:
    """The checkpoint's generation_config.json (end-of-sequence ids from config.json when
    it names none), read as transformers reads it for these settings."""
    file = model.path / "generation_config.json"
    values: dict[str, Any] = json.loads(file.read_text()) if file.is_file() else {}
    if values.get("eos_token_id") is None:
        text = model.config.get("text_config", {})
        values["eos_token_id"] = model.config.get("eos_token_id", text.get("eos_token_id"))
    return SimpleNamespace(**values)


def _tokenizer_is_plain(model: ModelRef) -> bool:
    """True when transformers' tokenizer for the checkpoint is its tokenizer.json alone
    (decoding cleans up no spaces)."""
    if not (model.path / "tokenizer.json").is_file():
        return False
    settings = model.path / "tokenizer_config.json"
    try:
        config = json.loads(settings.read_text()) if settings.is_file() else {}
    except (OSError, ValueError):
        return False
    return not config.get("clean_up_tokenization_spaces", False)


class TextOnlyAnswers:
    """The text-only part of the transformers backend (see the module's text)."""

    info: BackendInfo
    greedy_loop: bool
    _model: Any
    _tokenizer: Any
    _generation: Any
    _ref: ModelRef | None
    _shape: ModelShape
    _image_token: int
    _step: DecodeStep | None
    _prefixes: LRU[Any]

    def text_only_possible(self, model: ModelRef, quantize: str | None) -> bool:
        """Whether `load_text` can serve this model: float32 on the CPU with the lean greedy
        loop, a Llama text model the decode step computes, a plain tokenizer."""
        from .torch_text_weights import text_config_supported

        return (
            self.greedy_loop
            and quantize is None
            and self.info.device == "cpu"
            and self.info.dtype == "float32"
            and text_config_supported(model.config.get("text_config", {}))
            and _tokenizer_is_plain(model)
        )

    def load_text(self, model: ModelRef) -> list[str]:
        """Load the tokenizer and the text model's weights for the decode step (the rest
        loads when a request needs it)."""
        from .torch_text_weights import from_checkpoint

        try:
            tokenizer = RawTokenizer(model.path / "tokenizer.json")
            weights = from_checkpoint(model.path, model.config)
            generation = generation_config(model)
        except (OSError, KeyError, ValueError, TypeError, RuntimeError) as exc:
            raise BackendError(
                f"the text model of {model.name} could not be read alone: {exc}",
                hint="the checkpoint loads whole instead",
            ) from exc
        self._ref, self._tokenizer, self._generation = model, tokenizer, generation
        self._step = DecodeStep(weights)
        self._shape = model.shape
        self._image_token = int(model.config["image_token_id"])
        return []

    def _text_only_request(self, request: GenerationRequest, step: Plan) -> bool:
        """Whether the text model alone answers `request`: a greedy answer, unconstrained,
        whose frames all lie in a kept prefix."""
        return (
            request.temperature <= 0
            and request.json_schema is None
            and plain_greedy(self._generation)
            and step.reuse >= step.head
            and self._prefixes.get(step.cache_key) is not None
        )

    def _generate_text_only(
        self, request: GenerationRequest, step: Plan, on_token: TokenCallback | None
    ) -> GenerationOutput:
        """Prefill the request's text after the kept prefix and decode, on the step alone."""
        import torch

        assert self._step is not None
        decode_step = self._step
        cache = self._prefixes.get(step.cache_key)
        crop(cache, step.reuse)
        eos = set(as_list(self._generation.eos_token_id))

        def piece(token: int) -> None:
            if on_token is not None:
                on_token(self._tokenizer.decode([token]))

        start = time.perf_counter()
        with torch.inference_mode():
            tokens, first = greedy(
                lambda ids: decode_step.prefill(ids, cache),
                step.ids[step.head :],
                cache,
                request.max_tokens,
                set() if request.ignore_eos else eos,
                None,
                piece,
                decode_step,
            )
        self._keep(step, cache)
        stages = {"preprocess": 0.0, "vision": 0.0}
        return self._output(request, step, tokens, eos, start, first, stages, step.reuse, 0)

    def _cache_from(self, layers: list[tuple[Any, Any]]) -> Any:
        raise NotImplementedError

    def _cache_layers(self, cache: Any) -> list[tuple[Any, Any]]:
        raise NotImplementedError

    def _keep(self, step: Plan, cache: Any) -> None:
        raise NotImplementedError

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
        raise NotImplementedError

    def load(self, model: ModelRef, quantize: str | None = None) -> list[str]:
        raise NotImplementedError

    def _load_rest(self) -> float:
        """Load the whole model after a text-only load; the kept prefixes carry over.
        Returns the seconds it took."""
        assert self._ref is not None
        start = time.perf_counter()
        kept = [(key, self._cache_layers(cache)) for key, cache in self._prefixes.items()]
        self._step = None  # the loaded model's own step is built at its first greedy answer
        self.load(self._ref)
        for key, layers in kept:
            self._prefixes.put(key, self._cache_from(layers))
        return time.perf_counter() - start
