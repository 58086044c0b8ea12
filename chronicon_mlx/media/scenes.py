"""Scene-aware frame choice: within the same budget, prefer frames right after a cut."""

from __future__ import annotations

import itertools

from .decode import sample
from .plan import plan
from .probe import VideoInfo

THUMB_EDGE = 32
CANDIDATES_PER_FRAME = 8
MAX_CANDIDATES = 512


def choose(info: VideoInfo, first: int, stop: int, n: int, seek: str = "exact") -> list[int]:
    """Pick `n` frames in [first, stop): the first and last of the range's evenly spaced
    candidates, then the candidates that differ most from the one before them (a cut or a
    big change), never two neighbours.

    Candidates are decoded as 32-pixel frames and compared in grey, so this costs one cheap
    pass.
    """
    import numpy as np

    if stop - first <= n or n < 3:
        return plan(info, first, stop, n, seek)
    count = min(stop - first, n * CANDIDATES_PER_FRAME, MAX_CANDIDATES)
    candidates = plan(info, first, stop, count, seek)
    thumbs = sample(info, candidates, THUMB_EDGE, seek)
    if len(thumbs) < n:
        return [frame.index for frame in thumbs]
    luma = np.array([0.299, 0.587, 0.114], np.float32)
    grey = [frame.image.astype(np.float32) @ luma for frame in thumbs]
    change = [0.0] + [float(np.abs(b - a).mean()) for a, b in itertools.pairwise(grey)]
    chosen = {0, len(thumbs) - 1}
    for position in sorted(range(1, len(thumbs) - 1), key=lambda i: -change[i]):
        if len(chosen) == n:
            break
        if change[position] > 0 and not {position - 1, position + 1} & chosen:
            chosen.add(position)
    spare = [p for p in range(len(thumbs)) if p not in chosen]
    while len(chosen) < n and spare:  # too few changes: fill the widest gaps evenly
        ordered = sorted(chosen)
        gaps = [(b - a, a, b) for a, b in itertools.pairwise(ordered)]
        _, a, b = max(gaps)
        middle = min(spare, key=lambda p: abs(p - (a + b) / 2))
        chosen.add(middle)
        spare.remove(middle)
    return sorted(thumbs[p].index for p in chosen)
