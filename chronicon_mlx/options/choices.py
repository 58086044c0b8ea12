"""Every default, range and allowed value, declared once.

The run configs, the config-file and profile checks, the backend registry and the CLI's
help all read from here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal, get_args

from ..errors import UsageError, field

Seek = Literal["exact", "keyframe"]
Strategy = Literal["uniform", "scene"]
Quantize = Literal["auto", "none", "int8", "8bit", "4bit"]
BackendName = Literal["auto", "cpu", "mlx", "transformers"]
Device = Literal["auto", "mps", "cuda", "cpu"]
Dtype = Literal["auto", "float32", "float16", "bfloat16"]
Format = Literal[
    "json",
    "srt",
    "vtt",
    "md",
    "html",
    "speech.srt",
    "speech.vtt",
    "ffmetadata",
    "chapters.vtt",
    "youtube.txt",
    "edl",
    "otio",
]
Sort = Literal["score", "time"]

SEEKS: tuple[Seek, ...] = get_args(Seek)
STRATEGIES: tuple[Strategy, ...] = get_args(Strategy)
QUANTIZE: tuple[Quantize, ...] = get_args(Quantize)
BACKENDS: tuple[BackendName, ...] = get_args(BackendName)
DEVICES: tuple[Device, ...] = get_args(Device)
DTYPES: tuple[Dtype, ...] = get_args(Dtype)
FORMATS: tuple[Format, ...] = get_args(Format)
SORTS: tuple[Sort, ...] = get_args(Sort)

DEFAULT_MODEL = "500m"
DEFAULT_SPEECH_MODEL = "base"
DEFAULT_PROFILE = "general"
DEFAULT_PROMPT = "Describe what happens in this video."
DEFAULT_FRAMES = 8
DEFAULT_MAX_TOKENS = 256
DEFAULT_CACHE_GB = 4.0
DEFAULT_WINDOW_S = 30.0
DEFAULT_OVERLAP_S = 5.0
DEFAULT_FRAMES_PER_WINDOW = 6
DEFAULT_MIN_SIGNIFICANCE = 6
DEFAULT_MAX_HIGHLIGHTS = 10
DEFAULT_FORMATS: tuple[Format, ...] = ("json", "md")
DEFAULT_OUTPUT = "results"


@dataclass(frozen=True)
class Range:
    """The values a number may take: from `low` (or above it, when `above`) to `high`."""

    low: float
    high: float = math.inf
    integer: bool = True
    above: bool = False

    def contains(self, value: float) -> bool:
        """True when `value` is allowed (NaN never is)."""
        low_ok = value > self.low if self.above else value >= self.low
        return low_ok and value <= self.high

    def describe(self) -> str:
        """ "between 1 and 64", "above 0 and at most 60", "at least 1"."""
        if self.above:
            return f"above {self.low:g}" + (
                f" and at most {self.high:g}" if math.isfinite(self.high) else ""
            )
        if not math.isfinite(self.high):
            return f"at least {self.low:g}"
        return f"between {self.low:g} and {self.high:g}"

    def check(self, name: str, value: float, hint: str) -> None:
        """Raise a UsageError naming `name` when `value` is out of range."""
        if not self.contains(value):
            raise UsageError(f"{field(name)} must be {self.describe()} (got {value:g})", hint=hint)


FRAMES = Range(1, 64)
MAX_TOKENS = Range(1, 8192)
CACHE_GB = Range(0, 100_000, integer=False)
HIGHLIGHT_MAX_TOKENS = Range(8, 4096)
FPS = Range(0, 60, integer=False, above=True)
RESIZE = Range(16, 8192)
TEMPERATURE = Range(0, 5, integer=False)
WINDOW_S = Range(0, 24 * 3600, integer=False, above=True)
OVERLAP_S = Range(0, 24 * 3600, integer=False)
FRAMES_PER_WINDOW = Range(1, 64)
SIGNIFICANCE = Range(1, 10)
MAX_HIGHLIGHTS = Range(1)


def check_choice(value: str, allowed: tuple[str, ...], what: str) -> None:
    """Raise a UsageError when `value` is not one of `allowed` ("unknown <what> 'x'")."""
    if value not in allowed:
        raise UsageError(f"unknown {what} '{value}'", hint=f"choose one of {', '.join(allowed)}")


def check_text(value: str | None, name: str) -> str | None:
    """Strip a prompt; reject one that is given but empty or blank, or that holds bytes
    that are not UTF-8 text (a command line or a pipe in another encoding)."""
    if value is None:
        return None
    stripped = value.strip()
    if not stripped:
        raise UsageError(
            f"{field(name)} is empty", hint=f"give {field(name)} some text, or leave it out"
        )
    if any("\udc80" <= char <= "\udcff" for char in stripped):
        raise UsageError(
            f"{field(name)} holds bytes that are not UTF-8 text",
            hint="write it in UTF-8 (your terminal or file may use another encoding)",
        )
    return stripped


AUDIO_WEIGHT = Range(0, 1, integer=False)
"""How much a window's loudness counts in the highlights ranking (0: not at all)."""
