"""The frames of one analysis: planned over the asked range, decoded, and every way they fall
short of the request noted."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import VideoError, field
from ..media import scenes
from ..media.decode import Frame, sample
from ..media.plan import frame_range, plan, range_seconds
from ..media.probe import VideoInfo
from ..options import choices
from .params import SamplingConfig, frames_for_fps
from .runlog import RunLog


@dataclass(frozen=True)
class SampledVideo:
    """A probed video and the frames decoded from it for the model."""

    info: VideoInfo
    frames: list[Frame]
    wanted: int
    resize: int

    @property
    def times(self) -> list[float]:
        """Each frame's presentation time in seconds."""
        return [frame.timestamp_s for frame in self.frames]

    @property
    def images(self) -> list[Any]:
        """Each frame's RGB pixels, at the model's size."""
        return [frame.image for frame in self.frames]


def sample_video(
    video_path: str | Path, sampling: SamplingConfig, frame_size: int, run: RunLog
) -> SampledVideo:
    """Probe the video and decode its frames (the run's "probe" and "sample" stages)."""
    info = run.probe(video_path)
    resize = sampling.resize or frame_size
    frames, wanted = sample_frames(info, sampling, resize, run)
    return SampledVideo(info, frames, wanted, resize)


def sample_frames(
    info: VideoInfo, sampling: SamplingConfig, resize: int, run: RunLog
) -> tuple[list[Frame], int]:
    """Plan and decode the frames (the run's "sample" stage); return them and how many were
    wanted (`fps` turned into a count)."""
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
        frames = sample(info, indices, resize, sampling.seek)
        if not frames:
            raise VideoError(
                f"{info.path} has no decodable video frames",
                hint="it may be damaged; check it in a video player",
            )
        shortfall = _shortfall(info, sampling, (first, stop), wanted, indices, frames)
        if shortfall:
            run.note(shortfall)
    return frames, wanted


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
