"""The model session: resolve the model, order the backends, check memory, quantize when
only that fits, load once; tasks (analyze, highlights) run on what it loaded."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TypeVar

from ..backends import (
    BACKENDS,
    Backend,
    Candidate,
    candidates,
    create,
    missing_modules,
)
from ..errors import BackendError, ChroniconError, ModelError, ResourceError, field
from ..model import memory
from ..model.prompt import load_chat_template
from ..model.resolver import ModelRef, resolve
from ..options.choices import DEFAULT_FRAMES, DEFAULT_MAX_TOKENS, Quantize
from ..progress import NullReporter, Reporter, spell
from .listen import SpeechSlot
from .result import Fallback, ModelInfo
from .runlog import RunLog
from .spec import SessionSpec
from .videocache import VideoCache

_Session = TypeVar("_Session", bound="ModelSession")
RANDOM_WEIGHTS_NOTE = (
    "this checkpoint has random weights (built offline for testing): its answer is noise"
)


@dataclass(frozen=True)
class LoadedModel:
    """A model loaded on one backend, ready for any number of requests."""

    backend: Backend
    model: ModelRef
    chat_template: str
    quantization: str | None
    fallbacks: tuple[Fallback, ...]
    notes: tuple[str, ...]
    seconds: float
    import_seconds: float = 0.0
    """`seconds`: reading the model and getting it ready, after `import_seconds` spent
    importing the libraries its backend runs on."""

    @property
    def info(self) -> ModelInfo:
        """What a result records about the model."""
        return ModelInfo(
            name=self.model.name,
            path=str(self.model.path),
            random_weights=self.model.random_weights,
            quantization=self.quantization,
            fallbacks=self.fallbacks,
        )


@dataclass(frozen=True)
class _Need:
    """What a run asks of the model: frames, tokens to generate, prompt tokens (counted)."""

    frames: int
    max_tokens: int
    prompt_tokens: int | None

    def estimate(self, model: ModelRef, dtype: str, quantize: str | None) -> memory.Estimate:
        return memory.estimate(
            model.config, dtype, quantize, self.frames, self.max_tokens, self.prompt_tokens
        )


class ModelSession:
    """Resolves a model now and loads it once, on first use, for every task that shares it.

    `spec` says how it runs (a string: the model, with every other setting at its
    default). With the backend "auto" the backends are tried best first (see
    backends.candidates); one that is not installed or fails to load is skipped with a note
    and recorded as a fallback. The quantization "auto" quantizes only a model that fits in
    memory no other way. With a `video_cache` (or the spec's `cache_gb` above 0: the cache
    in its usual folder), a video's frames, their features and its prefilled prompt are
    kept on disk, and a later run on the same video skips decoding, vision and prefill.
    """

    def __init__(
        self,
        spec: SessionSpec | str | None = None,
        *,
        reporter: Reporter | None = None,
        video_cache: VideoCache | None = None,
        ready: Backend | None = None,
        ref: ModelRef | None = None,
    ) -> None:
        spec = SessionSpec(spec) if isinstance(spec, str) else spec or SessionSpec()
        self.spec = spec
        self.reporter: Reporter = reporter or NullReporter()
        self.requested_model = spec.model
        self.dtype: str = spec.dtype
        self.quantize: Quantize = spec.quantize
        self.allow_download = spec.allow_download
        if video_cache is None and spec.cache_gb > 0:
            video_cache = VideoCache.default(spec.cache_gb)
        self.video_cache = video_cache
        self.speech = SpeechSlot(spec.speech_model, spec.allow_download)
        self._loaded: LoadedModel | None = None
        if ready is None:
            self.explicit = spec.backend != "auto"
            self.candidates: list[Candidate] = _installed(candidates(spec.backend, spec.device))
        else:
            self.candidates = [Candidate(ready.info.name, ready.info.device)]
            self.explicit = True
        self.model: ModelRef = ref or self._resolve(self.candidates[0])
        if ready is not None:
            template = load_chat_template(self.model.path)
            self._loaded = LoadedModel(ready, self.model, template, None, (), (), 0.0)

    @classmethod
    def from_backend(
        cls: type[_Session],
        backend: Backend,
        model: str | ModelRef,
        reporter: Reporter | None = None,
    ) -> _Session:
        """A session around a backend that is ready to answer (loaded already, or one that
        needs no loading, such as `testing.ScriptedBackend`); `model` as the user named it,
        or the reference another session resolved it to (its name kept: an alias or a Hub
        id, not the folder's)."""
        named = model if isinstance(model, str) else str(model.path)
        ref = None if isinstance(model, str) else model
        spec = SessionSpec(model=named, allow_download=False)
        return cls(spec, reporter=reporter, ready=backend, ref=ref)

    @property
    def is_loaded(self) -> bool:
        """True once a backend holds the model."""
        return self._loaded is not None

    def _resolve(self, candidate: Candidate) -> ModelRef:
        return resolve(
            self.requested_model,
            prefer_mlx=candidate.backend == "mlx",
            allow_download=self.allow_download,
            on_contact=self.reporter.note,
        )

    def load(
        self,
        frames: int = DEFAULT_FRAMES,
        max_tokens: int = DEFAULT_MAX_TOKENS,
        prompt_tokens: int | None = None,
    ) -> LoadedModel:
        """The loaded model, loading it on the first candidate that works (once).

        The memory check (for `frames` frames, a prompt of `prompt_tokens` when counted and
        `max_tokens` to generate) runs before any weights load: a run that cannot fit stops
        here, and with quantize "auto" one that fits only quantized is quantized.
        """
        if self._loaded is None:
            self._loaded = self._load(_Need(frames, max_tokens, prompt_tokens))
        return self._loaded

    def load_stage(
        self,
        run: RunLog,
        frames: int,
        max_tokens: int,
        prompt_tokens: int | None = None,
    ) -> LoadedModel:
        """`load` as the run's "import" and "load" stages; the load's notes go to the run
        (first time)."""
        fresh = self._loaded is None
        self.reporter.stage_started("load")
        loaded = self.load(frames, max_tokens, prompt_tokens)
        seconds = loaded.seconds if fresh else 0.0
        imported = loaded.import_seconds if fresh else 0.0
        if imported:
            run.timings["import"] = imported
        run.timings["load"] = seconds
        self.reporter.stage_finished("load", imported + seconds)
        for message in loaded.notes if fresh else ():
            run.note(message)
        return loaded

    def _load(self, need: _Need) -> LoadedModel:
        start = time.perf_counter()
        imports = 0.0
        fallbacks: list[Fallback] = []
        for position, candidate in enumerate(self.candidates):
            last = position == len(self.candidates) - 1
            try:
                created = time.perf_counter()
                backend = create(candidate, dtype=self.dtype, tuning=self.spec.tuning)
                imports += time.perf_counter() - created
                model = self.model if position == 0 else self._resolve(candidate)
                quantization = self._fit(backend, model, need)
                notes = backend.load(model, quantize=quantization)
            except (BackendError, ModelError, ImportError, RuntimeError, MemoryError) as exc:
                if self.explicit or last:
                    if isinstance(exc, ChroniconError):
                        raise
                    raise BackendError(
                        f"the {candidate.backend} backend failed to load: {_reason(exc)}",
                        hint=BACKENDS[candidate.backend].install,
                    ) from exc
                following = self.candidates[position + 1]
                reason = _reason(exc)
                fallbacks.append(
                    {"backend": candidate.backend, "device": candidate.device, "reason": reason}
                )
                self.reporter.note(
                    spell(self.reporter, f"{candidate} cannot run: {reason}; trying {following}")
                )
                continue
            return LoadedModel(
                backend=backend,
                model=model,
                chat_template=load_chat_template(model.path),
                quantization=quantization,
                fallbacks=tuple(fallbacks),
                notes=tuple(notes),
                seconds=time.perf_counter() - start - imports,
                import_seconds=imports,
            )
        raise AssertionError("unreachable: the last candidate raises")  # pragma: no cover

    def _fit(self, backend: Backend, model: ModelRef, run: _Need) -> str | None:
        """The quantization to load with: the one asked for, or (auto) the least that fits."""
        info, frames = backend.info, run.frames
        wanted = None if self.quantize in ("auto", "none") else self.quantize
        have, source = memory.available_bytes(info.device)
        need = run.estimate(model, info.dtype, wanted)
        if need.total <= have:
            return wanted
        if self.quantize == "auto":
            for bits in getattr(backend, "quantizations", ("8bit", "4bit")):
                if run.estimate(model, info.dtype, bits).total <= have:
                    self.reporter.note(
                        f"{model.name} needs about {memory.gb(need.total)} in {info.dtype} but"
                        f" {source} is {memory.gb(have)}: using the {bits} variant"
                    )
                    return bits
        raise ResourceError(
            f"{model.name} with {frames} frames needs about {memory.gb(need.total)}"
            f" (weights {memory.gb(need.weights)}, vision {memory.gb(need.vision)},"
            f" KV cache {memory.gb(need.kv_cache)}) but {source} is {memory.gb(have)}",
            hint=f"use a smaller model ({field('model', '256m')}), fewer {field('frames')},"
            f" or {field('quantize', '4bit')}",
        )


def _installed(options: list[Candidate]) -> list[Candidate]:
    """The candidates whose libraries are installed (all of them when none is, so that the
    error names what to install)."""
    return [c for c in options if not missing_modules(c.backend)] or options


def _reason(exc: BaseException) -> str:
    text = exc.message if isinstance(exc, ChroniconError) else str(exc)
    first = text.strip().splitlines()[0] if text.strip() else ""
    return first if isinstance(exc, ChroniconError) else f"{type(exc).__name__}: {first}"
