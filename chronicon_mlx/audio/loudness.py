"""Loudness per second (ITU-R BS.1770 K-weighting, as pyloudnorm computes it) and how
excited a window is against the video's own median."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from .track import RATE, Samples

SLICE = 10 * RATE
"""Samples filtered at once (bounds the meter's working memory)."""
FLOOR_LUFS = -70.0
"""BS.1770's absolute gate: quieter seconds are reported at this level."""


class LoudnessMeter:
    """K-weighted loudness of each whole second of a stream fed in chunks; the filters keep
    their state from chunk to chunk, so chunking does not change the figures."""

    def __init__(self, rate: int = RATE) -> None:
        import pyloudnorm

        self.rate = rate
        stages = pyloudnorm.Meter(rate)._filters.values()
        self._stages = [
            (np.float32(f.b), np.float32(f.a), np.float32(f.passband_gain)) for f in stages
        ]
        self._states: list[np.ndarray | None] = [None] * len(self._stages)
        self._carry = np.zeros(0, dtype=np.float32)
        self.seconds: list[float] = []

    def feed(self, samples: Samples) -> None:
        """Add the next samples; every second they complete gets its loudness."""
        for start in range(0, len(samples), SLICE):
            self._feed(samples[start : start + SLICE])

    def _feed(self, samples: Samples) -> None:
        from scipy.signal import lfilter, lfilter_zi

        weighted = samples.astype(np.float32, copy=False)
        for position, (b, a, gain) in enumerate(self._stages):
            state = self._states[position]
            if state is None:
                state = lfilter_zi(b, a) * 0.0
            weighted, state = lfilter(b, a, weighted, zi=state)
            weighted = weighted * gain
            self._states[position] = state
        held = np.concatenate([self._carry, weighted])
        whole = len(held) // self.rate
        if whole:
            blocks = held[: whole * self.rate].reshape(whole, self.rate).astype(np.float64)
            self.seconds.extend(lufs(float(power)) for power in np.mean(blocks * blocks, axis=1))
        self._carry = held[whole * self.rate :]


def lufs(mean_square: float) -> float:
    """Loudness (LUFS) of a mono block's K-weighted mean square, floored at the gate."""
    if mean_square <= 0:
        return FLOOR_LUFS
    return max(FLOOR_LUFS, -0.691 + 10 * math.log10(mean_square))


def window_loudness(seconds: Sequence[float], start_s: float, end_s: float) -> float | None:
    """The energy mean of the seconds a window covers (LUFS); None without any."""
    first, last = max(0, int(start_s)), min(len(seconds), math.ceil(end_s))
    if last <= first:
        return None
    powers = [10 ** ((value + 0.691) / 10) for value in seconds[first:last]]
    return lufs(sum(powers) / len(powers))


def excitement(seconds: Sequence[float], start_s: float, end_s: float) -> float | None:
    """How much louder a window is than the video's median second (LU; negative: quieter)."""
    loudness = window_loudness(seconds, start_s, end_s)
    if loudness is None:
        return None
    return round(loudness - float(np.median(seconds)), 2)
