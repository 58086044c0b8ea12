"""The frames of one analysis: planned over the asked range, decoded, and every way they fall
short of the request noted."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..backends.reuse import frame_key
from ..errors import VideoError, field
from ..media import scenes
from ..media.decode import Frame, sample
from ..media.plan import frame_range, plan, range_seconds
from ..media.probe import VideoInfo
from ..options import choices
from .params import SamplingConfig, frames_for_fps
from .runlog import RunLog


@dataclass(frozen=True)
class PlannedVideo:
    """A probed video and the frames chosen from it, before any is decoded."""

    info: VideoInfo
    indices: list[int]
    wanted: int
    resize: int
    span: tuple[int, int]

    @property
    def times(self) -> list[float]:
        """Each chosen frame's presentation time as planned (decoding may refine it)."""
        index = self.info.index
        if index is not None:
            return [index.times[i] for i in self.indices]
        return [i / self.info.fps for i in self.indices]


@dataclass(frozen=True)
class SampledVideo:
    """A probed video and the frames decoded from it for the model.

    `keys` name each frame by content; frames read back from the video cache keep their
    keys, index and time but no pixels (`decoded` is False): the model needs only their
    kept features.
    """

    info: VideoInfo
    frames: list[Frame]
    wanted: int
    resize: int
    keys: list[str]
    decoded: bool = True

    @property
    def times(self) -> list[float]:
        """Each frame's presentation time in seconds."""
        return [frame.timestamp_s for frame in self.frames]

    @property
    def images(self) -> list[Any]:
        """Each frame's RGB pixels, at the model's size (empty when not decoded)."""
        return [frame.image for frame in self.frames]


def sample_video(
    video_path: str | Path, sampling: SamplingConfig, frame_size: int, run: RunLog
) -> SampledVideo:
    """Probe the video and decode its frames (the run's "probe" and "sample" stages)."""
    return decode_video(plan_video(video_path, sampling, frame_size, run), sampling, run)


def plan_video(
    video_path: str | Path, sampling: SamplingConfig, frame_size: int, run: RunLog
) -> PlannedVideo:
    """Probe the video and choose its frames (`fps` turned into a count)."""
    info = run.probe(video_path)
    resize = sampling.resize or frame_size
    with run.stage("sample"):
        first, stop = frame_range(info, sampling.start_s, sampling.end_s)
        wanted = sampling.frames
        if sampling.fps is not None:
            wanted, capped = frames_for_fps(sampling.fps, range_seconds(info, first, stop))
            if capped:
                run.note(
                    f"{field('fps', f'{sampling.fps:g}')} asks for more than"
                    f" {choices.FRAMES.high:g} frames; using {wanted}"
                )
        if sampling.strategy == "scene":
            indices = scenes.choose(info, first, stop, wanted, sampling.seek)
        else:
            indices = plan(info, first, stop, wanted, sampling.seek)
    return PlannedVideo(info, indices, wanted, resize, (first, stop))


def decode_video(planned: PlannedVideo, sampling: SamplingConfig, run: RunLog) -> SampledVideo:
    """Decode the planned frames (the run's "sample" stage)."""
    info = planned.info
    with run.stage("sample"):
        frames = sample(info, planned.indices, planned.resize, sampling.seek)
        if not frames:
            raise VideoError(
                f"{info.path} has no decodable video frames",
                hint="it may be damaged; check it in a video player",
            )
        keys = [frame_key(frame.image) for frame in frames]
    return cached_video(planned, sampling, frames, keys, run, decoded=True)


def cached_video(
    planned: PlannedVideo,
    sampling: SamplingConfig,
    frames: list[Frame],
    keys: list[str],
    run: RunLog,
    decoded: bool = False,
) -> SampledVideo:
    """The sampled video from its frames (decoded now, or read back from the cache), with
    a note when fewer frames than wanted came out."""
    shortfall = _shortfall(
        planned.info, sampling, planned.span, planned.wanted, planned.indices, frames
    )
    if shortfall:
        run.note(shortfall)
    return SampledVideo(planned.info, frames, planned.wanted, planned.resize, keys, decoded)


def _shortfall(
    info: VideoInfo,
    sampling: SamplingConfig,
    span: tuple[int, int],
    wanted: int,
    indices: list[int],
    frames: list[Frame],
) -> str | None:
    """A note saying why fewer frames than `wanted` were decoded, or None."""
    if len(frames) >= wanted:
        return None
    first, stop = span
    whole = span == (0, info.frame_count)
    if stop - first < wanted:
        reason = f"the {'clip' if whole else 'range'} has only {stop - first} frames"
    elif sampling.seek == "keyframe":
        reason = f"only {len(frames)} distinct keyframes lie near the wanted times"
    elif len(indices) < wanted:
        reason = f"only {len(indices)} distinct frames lie near the wanted times"
    else:
        reason = f"{len(indices) - len(frames)} frames could not be decoded"
    return f"using {len(frames)} of {wanted} requested frames: {reason}"
