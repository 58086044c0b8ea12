"""The cpu backend: SmolVLM2 on the engine (`chronicon_mlx.engine`), without transformers.

It keeps what the other backends keep (each frame's features by content, the KV cache of a
shared prefix), loads the vision tower only when a frame needs encoding, and answers
several requests in one batch (`generate_many`), each weight read once per step for all.
"""

from __future__ import annotations

import time
from collections.abc import Generator, Sequence
from typing import TYPE_CHECKING, Any, cast

from ..engine.tuning import (
    INT8_KERNELS,
    LINEAR_KERNELS,
    Int8Kernel,
    LinearKernel,
    PromptArithmetic,
    VisionArithmetic,
)
from ..errors import BackendError, field
from ..model.prompt import expand_images
from ..model.shapes import ModelShape
from ..paths import cache_root, private_folder
from .base import (
    BackendInfo,
    GenerationOutput,
    GenerationRequest,
    TokenCallback,
    Tuning,
    package_version,
)
from .cpu_pending import Pending, Preparing, token_pieces
from .reuse import FEATURE_CACHE_FRAMES, LRU, PREFIX_CACHES, KeptState, Plan, frames_within
from .torch_support import from_numpy, peak_memory_gb, to_numpy

if TYPE_CHECKING:
    from ..engine import Engine, SequenceCache
    from ..engine.generate import Stream
    from ..model.resolver import ModelRef

QUANTIZATIONS = ("int8", "8bit")


class CPUBackend(KeptState):
    """SmolVLM2 on the CPU through the engine: float32, or 8-bit text weights."""

    supports_json_schema = True
    quantizations = ("int8",)

    def __init__(
        self, dtype: str = "auto", device: str = "auto", tuning: Tuning | None = None
    ) -> None:
        from ..engine import ENGINE_VERSION, EngineTuning

        if device not in ("auto", "cpu"):
            raise BackendError(
                f"the cpu backend runs on the CPU, not '{device}'",
                hint=f"use {field('backend', 'transformers')} for {device}",
            )
        if dtype not in ("auto", "float32"):
            raise BackendError(
                f"the cpu backend computes in float32, not {dtype}",
                hint=f"leave out {field('dtype')}, or use {field('quantize', 'int8')} for 8-bit"
                " weights",
            )
        tuning = tuning or Tuning()
        linear = tuning.linear if tuning.linear in LINEAR_KERNELS else "auto"
        int8 = tuning.int8 if tuning.int8 in INT8_KERNELS else "auto"
        self.tuning = EngineTuning(
            threads=tuning.threads,
            linear=cast(LinearKernel, linear),
            int8=cast(Int8Kernel, int8),
            int8_vision=cast(VisionArithmetic, tuning.int8_vision),
            int8_prompts=cast(PromptArithmetic, tuning.int8_prompts),
        )
        try:
            kernels = self.tuning.resolved()
        except ValueError as error:
            raise BackendError(
                str(error),
                hint="leave the engine's tuning (linear, int8, int8_vision, int8_prompts) at auto",
            ) from error
        self.info = BackendInfo(
            name="cpu",
            device="cpu",
            dtype="float32",
            numerics={"engine": ENGINE_VERSION, "torch": package_version("torch")},
        )
        self.info.numerics.update(kernels.record())
        self._engine: Engine | None = None
        self._shape = ModelShape.of({})
        self._image_token = -1
        self._features: LRU[Any] = LRU(FEATURE_CACHE_FRAMES)
        self._prefixes: LRU[Any] = LRU(PREFIX_CACHES)

    @property
    def engine(self) -> Engine:
        """The loaded engine."""
        if self._engine is None:
            raise BackendError("the cpu backend was used before load()")
        return self._engine

    def load(self, model: ModelRef, quantize: str | None = None) -> list[str]:
        """Read the tokenizer and the text model (8-bit with `quantize` int8 or 8bit); the
        vision tower is read when a frame first needs it."""
        from ..engine import Engine, supported
        from ..engine.checkpoint import CheckpointError
        from ..engine.generate import plain_greedy
        from ..engine.tokens import generation_settings

        notes = []
        if quantize not in (None, *QUANTIZATIONS):
            notes.append(f"the cpu backend has no {quantize} weights; running float32")
        reason = supported(model.config)
        if reason is None and not plain_greedy(generation_settings(model.path)):
            reason = "its generation settings change greedy choices"
        if reason is not None:
            raise BackendError(
                f"the cpu engine cannot run {model.name}: {reason}",
                hint=f"use {field('backend', 'transformers')}",
            )
        int8 = quantize in QUANTIZATIONS
        try:
            store = (
                private_folder(cache_root() / "engine", "the engine's 8-bit weights")
                if int8
                else None
            )
            self._engine = Engine(model.path, model.config, self.tuning, int8=int8, store=store)
        except (OSError, ValueError, KeyError, CheckpointError) as exc:
            raise BackendError(
                f"the cpu engine could not read {model.name}: {exc}",
                hint="the checkpoint may be damaged, or not in transformers' layout",
            ) from exc
        record = self._engine.record()
        self.info.numerics.update(
            {
                k: record[k]
                for k in ("weights", "int8", "int8_vision", "int8_prompts")
                if k in record
            }
        )
        self._shape = model.shape
        self._image_token = self._engine.image_token
        return notes

    def _ids(self, text: str) -> list[int]:
        return self.engine.tokenizer.encode(expand_images(text, self._shape.tokens_per_frame))

    def prompt_ids(self, request: GenerationRequest) -> list[int]:
        """Token ids fed to the model, with each frame's ``<image>`` expanded."""
        return self._ids(request.prompt)

    def generate(
        self, request: GenerationRequest, on_token: TokenCallback | None = None
    ) -> GenerationOutput:
        """Prefill through the prompt (reusing a kept prefix and kept frame features), then
        decode: greedy, sampled, or constrained to the request's JSON schema."""
        return self.generate_many([request], [on_token])[0]

    def generate_many(
        self,
        requests: Sequence[GenerationRequest],
        on_tokens: Sequence[TokenCallback | None] | None = None,
    ) -> list[GenerationOutput]:
        """Answer several requests in one batch: each is prefilled on its own, then every
        answer advances one token per step together. Each greedy answer is the one the
        request gets alone."""
        callbacks = list(on_tokens or [None] * len(requests))
        pending = [
            self.submit(request, callback)
            for request, callback in zip(requests, callbacks, strict=True)
        ]
        for item in pending:
            while not self.work(item):
                pass
        decoding = time.perf_counter()  # each one's decode starts now, not once it was ready
        for item in pending:
            item.decoding_at = decoding
        active = pending
        while active:
            active = self.decode(active)
        return [self.finish(item) for item in pending]

    def submit(
        self,
        request: GenerationRequest,
        on_token: TokenCallback | None = None,
        rows: int | None = None,
    ) -> Pending:
        """Start a request: its frames are encoded and its prompt prefilled by `work`, a
        slice at a time (one encoder layer of one frame, or `rows` prompt tokens: None, the
        whole prompt at once), then it decodes in `decode` steps with others."""
        return Pending(request, self._preparing(request, on_token, rows))

    def work(self, pending: Pending) -> bool:
        """Do the next slice of a request's preparation; True once it is ready to decode."""
        return pending.work()

    def waiting_rows(self, pending: Pending) -> int:
        """The prompt rows of a request's next slice, which a decode step can run with its
        own (see `decode`); 0 when its next slice is other work."""
        return pending.waiting_rows

    def decode(self, pending: Sequence[Pending], joining: Sequence[Pending] = ()) -> list[Pending]:
        """One decode step for every prepared, unfinished request together (each weight
        read once for all), with the prompt chunk waiting in each of `joining` run in the
        same forward; returns those still going, then those of `joining` now ready to
        decode. A joining request whose preparation fails raises at its next `work`."""
        from ..engine import generate

        streams = [item.stream for item in pending if item.stream is not None]
        folded = [(item, item.chunk) for item in joining if item.chunk is not None]
        going, lasts = generate.advance(self.engine, streams, [chunk for _, chunk in folded])
        still = {id(stream) for stream in going}
        ready = []
        for (item, _), last in zip(folded, lasts, strict=True):
            try:
                if item.resume(last):
                    ready.append(item)
            except Exception as error:  # that request alone failed; the step stands
                item.failed = error
        kept = [item for item in pending if item.stream is not None and id(item.stream) in still]
        return kept + ready

    def finish(self, pending: Pending) -> GenerationOutput:
        """The answer of a request whose stream has ended."""
        assert pending.stream is not None and pending.plan is not None
        return self._output(
            pending.request,
            pending.plan,
            pending.stream,
            pending.stages,
            pending.started,
            pending.decoding_at,
        )

    def _preparing(
        self, request: GenerationRequest, on_token: TokenCallback | None, rows: int | None
    ) -> Preparing:
        """Encode the request's new frames, prefill its prompt and take its first token,
        yielding between slices of the work."""
        from ..engine.generate import Stream
        from ..engine.tokens import JsonConstraint

        engine = self.engine
        stages: dict[str, float] = {}
        step, keys = self._plan(request)
        started = time.perf_counter()
        missing = [i for i, key in enumerate(keys) if self._features.get(key) is None]
        pixel_values = engine.preprocess([request.frames[i] for i in missing]) if missing else None
        stages["preprocess"] = time.perf_counter() - started
        started = time.perf_counter()
        if pixel_values is not None:
            loaded = engine.vision_loaded
            encoded = yield from engine.encode_steps(pixel_values)
            for index, features in zip(missing, encoded, strict=True):
                self._features.put(keys[index], features)
            del pixel_values  # the frames' pixels leave before the prompt's activations come
            if not loaded:
                stages["load"] = engine.vision_load_s
        stages["vision"] = time.perf_counter() - started - stages.get("load", 0.0)
        stages["encoded"] = float(len(missing))
        started = time.perf_counter()
        sequence, reused = self._sequence(step, len(step.ids) + request.max_tokens)
        ids = step.ids[reused:]
        per_frame = self._shape.tokens_per_frame
        first_frame = frames_within(step.ids[:reused], self._image_token, per_frame)
        frames_in = frames_within(ids, self._image_token, per_frame)
        features = [self._features.get(key) for key in keys[first_frame : first_frame + frames_in]]
        logits = None
        if step.head > reused:
            head = ids[: step.head - reused]
            logits = yield from self._prefill(sequence, head, features, rows)
        self._keep(step, sequence)
        if step.head - reused < len(ids):
            logits = yield from self._prefill(sequence, ids[step.head - reused :], [], rows)
        constraint = None
        if request.json_schema is not None:
            constraint = JsonConstraint(
                engine.tokenizer, self._shape.text.vocab, request.json_schema
            )
        stop = set() if request.ignore_eos else set(engine.stop)
        piece = token_pieces(engine.tokenizer, on_token, stop)
        stream = Stream(
            sequence, request.max_tokens, stop, constraint, request.temperature, request.seed, piece
        )
        stream.take(logits)
        stages["prefill"] = time.perf_counter() - started
        stages["reused"] = float(reused)
        return step, stream, stages

    def _prefill(
        self, sequence: SequenceCache, ids: Sequence[int], features: list[Any], rows: int | None
    ) -> Generator[Any, Any, Any]:
        if rows is None:
            return self.engine.prefill(sequence, ids, features)
        return (yield from self.engine.prefill_steps(sequence, ids, features, rows))

    def _sequence(self, step: Plan, room: int) -> tuple[SequenceCache, int]:
        """A new sequence for a request: its kept prefix's copy when one matches."""
        kept = self._prefixes.get(step.cache_key) if step.reuse else None
        if kept is not None and kept.length >= step.reuse:
            sequence: SequenceCache = kept.fork(step.reuse)
            sequence.reserve(room - step.reuse)
            return sequence, step.reuse
        return self.engine.new_sequence(room), 0

    def _keep(self, step: Plan, sequence: SequenceCache) -> None:
        """Keep the shared prefix (once it is prefilled) for later requests: its own pages
        when they cost no more than a copy (see `SequenceCache.prefix`)."""
        if (
            step.reuse
            and self._prefixes.get(step.cache_key) is None
            and sequence.length >= step.reuse
        ):
            self._prefixes.put(step.cache_key, sequence.prefix(step.reuse))

    def _output(
        self,
        request: GenerationRequest,
        step: Plan,
        stream: Stream,
        stages: dict[str, float],
        started: float,
        decoding: float,
    ) -> GenerationOutput:
        end = time.perf_counter()
        tokens = stream.tokens
        answer = tokens[:-1] if stream.stopped else tokens
        reused = int(stages.pop("reused"))
        encoded = int(stages.pop("encoded"))
        first = stream.first_at or end
        decode_s = end - max(first, decoding)
        computed = len(step.ids) - reused
        prefill_s = stages["prefill"]
        return GenerationOutput(
            text=self.engine.tokenizer.decode(answer).strip(),
            token_ids=tokens,
            prompt_tokens=len(step.ids),
            generated_tokens=len(tokens),
            prompt_tps=computed / prefill_s if prefill_s > 0 else 0.0,
            generation_tps=(len(tokens) - 1) / decode_s
            if decode_s > 0 and len(tokens) > 1
            else 0.0,
            peak_memory_gb=peak_memory_gb("cpu"),
            finish_reason="stop" if stream.stopped else "length",
            stages={**stages, "generate": decode_s},
            constrained=request.json_schema is not None,
            cached_tokens=step.reuse,
            encoded_frames=encoded,
            reused_tokens=reused,
        )

    def _to_numpy(self, value: Any) -> Any:
        return to_numpy(value)

    def _from_numpy(self, array: Any) -> Any:
        return from_numpy(array, "cpu", "float32")

    def _cache_layers(self, cache: Any) -> list[tuple[Any, Any]]:
        return list(cache.layer_arrays())

    def _cache_from(self, layers: list[tuple[Any, Any]]) -> Any:
        from ..engine import SequenceCache

        return SequenceCache.from_layers(layers)
