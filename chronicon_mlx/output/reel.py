"""A highlight reel: the highlights' time ranges cut into one clip, in time order.

With an ``ffmpeg`` binary on PATH the cut keeps the audio; otherwise OpenCV writes the
frames (video only). Either way the reel is written beside its target and renamed into it.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ..errors import OutputError, field
from ..highlight.result import Highlight
from ..media import pyav
from ..media.decode import iter_frames
from ..media.plan import frame_range
from ..media.probe import VideoInfo


@dataclass(frozen=True)
class Reel:
    """What was written: the file, the tool that cut it, and its length in seconds."""

    path: Path
    method: str
    seconds: float
    segments: list[tuple[float, float]]


def segments(highlights: Sequence[Highlight]) -> list[tuple[float, float]]:
    """The highlights' (start, end) ranges in time order, overlapping ones joined."""
    joined: list[tuple[float, float]] = []
    for start, end in sorted((h.start_s, h.end_s) for h in highlights):
        if joined and start <= joined[-1][1]:
            joined[-1] = (joined[-1][0], max(joined[-1][1], end))
        else:
            joined.append((start, end))
    return joined


def write_reel(
    info: VideoInfo, highlights: Sequence[Highlight], path: Path, use_ffmpeg: bool = True
) -> Reel:
    """Cut the highlights of the video described by `info` into `path`."""
    parts = segments(highlights)
    if not parts:
        raise OutputError(
            "there are no highlights to cut into a reel",
            hint=f"lower {field('min_significance')}, or leave out {field('reel')}",
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(
        prefix=f".{path.stem}.", suffix=f".tmp{path.suffix or '.mp4'}", dir=path.parent
    )
    os.close(fd)  # created by us (O_EXCL): a link planted beside the reel is never followed
    tmp = Path(name)
    ffmpeg = shutil.which("ffmpeg") if use_ffmpeg else None
    try:
        if ffmpeg:
            _cut_with_ffmpeg(ffmpeg, info.path, parts, tmp)
            method = "ffmpeg"
        else:
            _cut_with_opencv(info, parts, tmp)
            method = "opencv"
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    return Reel(path, method, sum(end - start for start, end in parts), parts)


def _cut_with_opencv(info: VideoInfo, parts: list[tuple[float, float]], tmp: Path) -> None:
    import cv2

    writer = cv2.VideoWriter(
        str(tmp), cv2.VideoWriter.fourcc(*"mp4v"), info.fps, (info.width, info.height)
    )
    if not writer.isOpened():
        raise OutputError(f"OpenCV cannot write {tmp.suffix} video", hint="name the reel .mp4")
    try:
        for start, end in parts:
            first, stop = frame_range(info, start, end)
            for frame in iter_frames(info, range(first, stop)):
                image = cv2.cvtColor(frame.image, cv2.COLOR_RGB2BGR)
                if image.shape[1] != info.width or image.shape[0] != info.height:
                    image = cv2.resize(image, (info.width, info.height))
                writer.write(image)
    finally:
        writer.release()


def ffmpeg_command(
    ffmpeg: str, source: Path, parts: list[tuple[float, float]], target: Path, audio: bool
) -> list[str]:
    """The ffmpeg call that trims each part (video and audio) and concatenates them."""
    filters = []
    labels = ""
    for n, (start, end) in enumerate(parts):
        filters.append(f"[0:v]trim=start={start:.3f}:end={end:.3f},setpts=PTS-STARTPTS[v{n}]")
        labels += f"[v{n}]"
        if audio:
            filters.append(f"[0:a]atrim=start={start:.3f}:end={end:.3f},asetpts=PTS-STARTPTS[a{n}]")
            labels += f"[a{n}]"
    filters.append(
        f"{labels}concat=n={len(parts)}:v=1:a={int(audio)}[v]" + ("[a]" if audio else "")
    )
    command = [ffmpeg, "-hide_banner", "-loglevel", "error", "-y", "-i", str(source)]
    command += ["-filter_complex", ";".join(filters), "-map", "[v]"]
    if audio:
        command += ["-map", "[a]"]
    return [*command, str(target)]


def _cut_with_ffmpeg(
    ffmpeg: str, source: Path, parts: list[tuple[float, float]], tmp: Path
) -> None:
    command = ffmpeg_command(ffmpeg, source, parts, tmp, pyav.has_audio(source))
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no message"])[-1]
        raise OutputError(f"ffmpeg could not cut the reel: {last}", hint="check the ffmpeg install")
