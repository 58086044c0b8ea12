"""The backend protocol: load a model once, answer many generation requests."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    from ..model.resolver import ModelRef
    from .reuse import PrefixState

TokenCallback = Callable[[str], None]


def use_video_pixel_path(image_processor: Any, model: ModelRef) -> None:
    """Make the image processor treat a frame as SmolVLM2's video processor does: no
    tiling, the longest edge resized to the video size (not first enlarged to 4x), then
    squared to the encoder's size."""
    image_processor.do_image_splitting = False
    size = image_processor.size
    edge = model.video_edge
    image_processor.size = (
        type(size)(longest_edge=edge) if not isinstance(size, dict) else {"longest_edge": edge}
    )


def package_version(package: str) -> str:
    """An installed package's version, or "unknown"."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(package)
    except PackageNotFoundError:
        return "unknown"


@dataclass(frozen=True)
class GenerationRequest:
    """Frames (RGB arrays) and the fully rendered prompt text, plus sampling settings.

    `prefix` is text that `prompt` starts with and that many requests share (a system
    prompt; or the system prompt and the video, for several questions about it): a backend
    keeps its KV cache and prefills only the rest for later requests that start the same
    way with the same frames. `frame_keys` name the frames by content (computed from the
    pixels when empty): a frame's vision features are kept under its key. `json_schema`
    asks a backend that can constrain decoding to produce JSON matching it.
    """

    frames: Sequence[npt.NDArray[np.uint8]]
    prompt: str
    max_tokens: int = 256
    temperature: float = 0.0
    seed: int | None = None
    ignore_eos: bool = False
    prefix: str = ""
    json_schema: dict[str, Any] | None = None
    frame_keys: Sequence[str] = ()


@dataclass
class GenerationOutput:
    """What a backend produced, with the numbers every backend reports alike."""

    text: str
    token_ids: list[int]
    prompt_tokens: int
    generated_tokens: int
    prompt_tps: float
    generation_tps: float
    peak_memory_gb: float
    finish_reason: str
    stages: dict[str, float] = field(default_factory=dict)
    cached_tokens: int = 0
    constrained: bool = False
    encoded_frames: int = 0
    reused_tokens: int = 0
    """`cached_tokens`: prompt tokens of the shared prefix, kept as a KV cache (computed the
    first time, reused after); `reused_tokens`: those of them this request took from the
    kept cache, not computed (0 the first time); `encoded_frames`: frames that went through
    the vision tower for this request (the others' features were kept)."""


@dataclass(frozen=True)
class Tuning:
    """How a backend runs its kernels on this machine: an argument, recorded in results
    (nothing is read from the environment).

    `threads`: torch's threads (the cpu engine; None: torch's choice, one per core).
    `linear`: the cpu engine's float32 product (``auto``, ``onednn``, ``torch``).
    `int8`: the cpu engine's 8-bit product (``auto``, ``fbgemm``, ``torch``).
    `int8_vision`: the arithmetic of the int8 cpu engine's vision tower (``auto``,
    ``bfloat16``, ``float32``). `int8_prompts`: how the int8 cpu engine multiplies prompt
    rows (``auto``, ``bfloat16``, ``int8``).
    `blas`: MLX's BLAS on Linux (``auto``: an OpenBLAS loaded before MLX; ``reference``:
    mlx-cpu's own). `vision_streams`: MLX CPU streams the vision tower's frames are spread
    over (None: one per core).
    """

    threads: int | None = None
    linear: str = "auto"
    int8: str = "auto"
    int8_vision: str = "auto"
    int8_prompts: str = "auto"
    blas: str = "auto"
    vision_streams: int | None = None


@dataclass(frozen=True)
class BackendInfo:
    """Which backend ran, on which device and in which dtype.

    `numerics`: what else changes the numbers it computes (the versions of the libraries
    that compute, kernel choices); `details`: diagnostics for the record that do not.
    """

    name: str
    device: str
    dtype: str
    details: dict[str, str] = field(default_factory=dict)
    numerics: dict[str, str] = field(default_factory=dict)

    @property
    def described(self) -> dict[str, str]:
        """Everything the record says about the backend: numerics and diagnostics."""
        return {**self.numerics, **self.details}


@dataclass(frozen=True)
class CacheIdentity:
    """What the state a backend keeps (frame features, a prefix's KV cache) depends on
    besides the model's files and the video: the video cache's key holds exactly this."""

    backend: str
    device: str
    dtype: str
    quantization: str
    numerics: tuple[tuple[str, str], ...]

    @classmethod
    def of(cls, info: BackendInfo, quantization: str | None) -> CacheIdentity:
        """The identity of a backend loaded with `quantization` (None: full precision)."""
        numerics = tuple(sorted(info.numerics.items()))
        return cls(info.name, info.device, info.dtype, quantization or "none", numerics)


class Backend(Protocol):
    """A loaded model that answers generation requests."""

    info: BackendInfo
    supports_json_schema: bool

    def load(self, model: ModelRef, quantize: str | None = None) -> list[str]:
        """Load the weights and processor once; return notes for the user."""

    def prompt_ids(self, request: GenerationRequest) -> list[int]:
        """The token ids this backend feeds the model for `request` (images expanded)."""

    def generate(
        self, request: GenerationRequest, on_token: TokenCallback | None = None
    ) -> GenerationOutput:
        """Run one request; `on_token` receives text as it is produced."""


@runtime_checkable
class Batched(Protocol):
    """A backend that runs several requests at once: each is prepared a slice at a time
    (`work`, or its prompt's rows within a `decode` step), then every prepared one
    advances a token per `decode` step, together."""

    def submit(
        self,
        request: GenerationRequest,
        on_token: TokenCallback | None = None,
        rows: int | None = None,
    ) -> Any:
        """Start a request (prompt prefilled `rows` tokens per slice; None: at once)."""

    def work(self, pending: Any) -> bool:
        """Do the next slice of a request's preparation; True once it decodes."""

    def waiting_rows(self, pending: Any) -> int:
        """The prompt rows of a request's next slice, which `decode` can run together with
        its step (0 when its next slice is other work)."""

    def decode(self, pending: Sequence[Any], joining: Sequence[Any] = ()) -> list[Any]:
        """One step for every prepared, unfinished request, the next prompt rows of each of
        `joining` run in the same step; those still going, then those of `joining` now
        ready to decode."""

    def finish(self, pending: Any) -> GenerationOutput:
        """The answer of a request whose decoding ended (or was cancelled)."""


@runtime_checkable
class Reusable(Protocol):
    """A backend whose kept state (frame features, a prefix's KV cache) can be exported as
    arrays and imported again: what the video cache stores on disk."""

    def export_features(self, keys: Sequence[str]) -> list[np.ndarray[Any, Any]] | None:
        """The kept features of these frames (None unless all are kept)."""

    def import_features(self, keys: Sequence[str], arrays: Sequence[np.ndarray[Any, Any]]) -> None:
        """Keep features computed earlier (ValueError when they do not fit the model)."""

    def export_prefix(self, request: GenerationRequest) -> PrefixState | None:
        """The kept KV cache of the request's shared prefix (None when none is kept)."""

    def holds_prefix(self, text: str, frame_keys: Sequence[str]) -> bool:
        """Whether the prefix `text`'s KV cache over these frames is kept (in memory)."""

    def import_prefix(self, state: PrefixState) -> None:
        """Keep a prefix's KV cache computed earlier (ValueError when it does not fit)."""

    def forget(self) -> None:
        """Drop every kept frame feature and prefix cache."""
