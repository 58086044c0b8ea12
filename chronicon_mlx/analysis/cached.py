"""One video's entries in the video cache, for one run: frames and their features read back
instead of decoded and encoded, the video's prefilled prefix read back instead of computed,
and both written after the first answer when they were missing."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from ..backends.base import CacheIdentity, GenerationRequest, Reusable
from ..media.decode import Frame
from .frames import PlannedVideo, SampledVideo, cached_video
from .params import SamplingConfig
from .runlog import RunLog
from .session import LoadedModel
from .videocache import CachedFrames, VideoCache

if TYPE_CHECKING:
    pass

NO_PIXELS = np.zeros((0, 0, 3), np.uint8)
HIT_NOTE = "{what} read from the video cache"


@dataclass
class CachedVideo:
    """A planned video's cache entries on a loaded model."""

    cache: VideoCache
    backend: Reusable
    key: str
    run: RunLog
    have_frames: bool = False
    have_prefix: bool = False

    @classmethod
    def open(
        cls,
        cache: VideoCache | None,
        loaded: LoadedModel,
        planned: PlannedVideo,
        seek: str,
        run: RunLog,
    ) -> CachedVideo | None:
        """The entries for this video, or None when there is no cache or the backend cannot
        export what it keeps."""
        backend: Any = loaded.backend
        if cache is None or not isinstance(backend, Reusable):
            return None
        with run.stage("cache"):
            identity = CacheIdentity.of(loaded.backend.info, loaded.quantization)
            key = cache.frames_key(planned, seek, loaded.model, identity)
        return cls(cache, backend, key, run)

    def frames(self, planned: PlannedVideo, sampling: SamplingConfig) -> SampledVideo | None:
        """The sampled video read back from the cache (its features handed to the backend),
        or None on a miss."""
        with self.run.stage("cache"):
            entry = self.cache.read_frames(self.key, self.run.note)
            if entry is None or not self._fits(entry, planned):
                return None
        frames = [Frame(index, t, NO_PIXELS) for index, t in entry.frames]
        self.have_frames = True
        return cached_video(planned, sampling, frames, entry.keys, self.run)

    def _fits(self, entry: CachedFrames, planned: PlannedVideo) -> bool:
        try:
            misfit = _misfit(entry, planned)
            if misfit is not None:
                raise ValueError(misfit)
            self.backend.import_features(entry.keys, entry.features)
        except ValueError as error:
            self.run.note(f"ignored a video cache entry ({error}); building it again")
            self.cache.forget("frames", self.key)
            return False
        return True

    def prefix(self, text: str, frame_keys: Sequence[str]) -> None:
        """Hand the backend the video's prefilled prefix when the cache holds it (unread
        when the backend still keeps it from an earlier request, as a server's follow-ups
        find it)."""
        key = self.cache.prefix_key(self.key, text)
        with self.run.stage("cache"):
            if self.cache.holds("prefix", key) and self.backend.holds_prefix(text, frame_keys):
                state = None
                self.have_prefix = True
            else:
                state = self.cache.read_prefix(key, self.run.note)
            if state is not None:
                try:
                    self.backend.import_prefix(state)
                    self.have_prefix = True
                except ValueError as error:
                    self.run.note(f"ignored a video cache entry ({error}); building it again")
                    self.cache.forget("prefix", key)
        if self.have_frames:
            what = "frames, their features and the prefilled prompt"
            if not self.have_prefix:
                what = "frames and their features"
            self.run.note(HIT_NOTE.format(what=what))

    def save(self, video: SampledVideo, request: GenerationRequest) -> None:
        """Write what was missing, now that the backend keeps it."""
        if self.have_frames and self.have_prefix:
            return
        assert request.prefix
        with self.run.stage("cache"):
            if not self.have_frames:
                features = self.backend.export_features(video.keys)
                if features is not None:
                    times = [(f.index, f.timestamp_s) for f in video.frames]
                    entry = CachedFrames(times, list(video.keys), features)
                    self.cache.write_frames(self.key, entry, self.run.note)
                    self.have_frames = True
            if not self.have_prefix:
                state = self.backend.export_prefix(request)
                if state is not None:
                    key = self.cache.prefix_key(self.key, request.prefix)
                    self.cache.write_prefix(key, state, self.run.note)
                    self.have_prefix = True


def _misfit(entry: CachedFrames, planned: PlannedVideo) -> str | None:
    """Why a frames entry does not fit the planned video (None: it does): every frame must
    be a planned one, at a time inside the video."""
    if not {index for index, _ in entry.frames} <= set(planned.indices):
        return "frames outside the plan"
    end = planned.info.duration_s + 1.0
    if not all(math.isfinite(t) and 0.0 <= t <= end for _, t in entry.frames):
        return "frame times outside the video"
    return None
