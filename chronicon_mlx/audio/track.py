"""A video's audio track, decoded with PyAV to 16 kHz mono float32 and read in chunks, so a
three-hour file never sits in memory whole."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from ..errors import UsageError, field
from ..media.sources import decoder_name

RATE = 16_000
"""Samples per second of every decoded track (what speech models and the meter read)."""
CHUNK_S = 120.0
"""Seconds of audio held and transcribed at once (7.7 MB of float32 at 16 kHz; voice
activity detection's working memory grows with it: about 70 MB at 120 s, 125 MB at 300 s
on a 2-core x86_64 machine, measured with `faster_whisper.vad.get_speech_timestamps`)."""

Samples = npt.NDArray[np.float32]


class AudioUnreadable(Exception):
    """The audio stream is missing or cannot be decoded; the run goes on with vision alone."""


@dataclass(frozen=True)
class AudioStream:
    """One audio stream of a container, numbered among the audio streams from 0."""

    number: int
    codec: str
    channels: int
    rate: int
    default: bool
    language: str | None

    def describe(self) -> dict[str, Any]:
        """The stream's facts for the JSON record."""
        return {
            "track": self.number,
            "codec": self.codec,
            "channels": self.channels,
            "sample_rate": self.rate,
            "language": self.language,
        }


@dataclass(frozen=True)
class Chunk:
    """Consecutive samples from `start_s` (seconds in the video's timeline)."""

    start_s: float
    samples: Samples

    @property
    def end_s(self) -> float:
        """Where the chunk's last sample ends."""
        return self.start_s + len(self.samples) / RATE


def _open(path: Path) -> Any:
    import av

    try:
        return av.open(decoder_name(path))
    except (av.error.FFmpegError, OSError) as exc:
        raise AudioUnreadable(f"the container cannot be read ({exc})") from exc


def audio_streams(path: Path) -> list[AudioStream]:
    """The audio streams of `path`, in container order; empty for a silent video."""
    with _open(path) as container:
        found = []
        for number, stream in enumerate(container.streams.audio):
            context = stream.codec_context
            found.append(
                AudioStream(
                    number=number,
                    codec=str(context.name),
                    channels=int(context.channels or 0),
                    rate=int(context.sample_rate or 0),
                    default=bool(stream.disposition & 1),
                    language=stream.metadata.get("language"),
                )
            )
        return found


def pick_stream(streams: list[AudioStream], track: int | None) -> AudioStream:
    """Track `track` (numbered from 0 among the audio streams), or the container's default
    one (else the first). `streams` must not be empty."""
    if track is None:
        return next((s for s in streams if s.default), streams[0])
    if not 0 <= track < len(streams):
        raise UsageError(
            f"{field('audio_track')} {track} does not exist: the video has"
            f" {len(streams)} audio track{'s' if len(streams) != 1 else ''}",
            hint=f"give a number from 0 to {len(streams) - 1}",
        )
    return streams[track]


@dataclass
class Damage:
    """Packets of a stream that could not be decoded (each read as silence of its length,
    so the samples after it keep their times)."""

    packets: int = 0
    seconds: float = 0.0


def read_chunks(
    path: Path,
    stream: AudioStream,
    start_s: float = 0.0,
    end_s: float | None = None,
    chunk_s: float = CHUNK_S,
    damage: Damage | None = None,
) -> Iterator[Chunk]:
    """The stream's audio from `start_s` to `end_s` (the end of the file when None) as
    16 kHz mono float32 chunks of `chunk_s` seconds (the last one shorter).

    Sample times follow the stream's timestamps: the first decoded frame places the
    samples, later ones follow on. A packet that cannot be decoded is read as silence and
    counted in `damage`; `AudioUnreadable` when the container itself cannot be read on.
    """
    import av

    size = max(1, round(chunk_s * RATE))
    buffer: list[Samples] = []
    held = emitted = 0
    position: float | None = None
    with _open(path) as container:
        source = container.streams.audio[stream.number]
        resampler = av.AudioResampler(format="flt", layout="mono", rate=RATE)
        if start_s > 0:
            container.seek(int(start_s * av.time_base), any_frame=False)
        try:
            for frame in _frames(container, source, resampler, damage or Damage()):
                samples, at = frame
                if position is None:
                    position = at if at is not None else 0.0
                cut = samples
                if position < start_s:
                    skip = min(len(cut), round((start_s - position) * RATE))
                    cut = cut[skip:]
                    position = round((position + skip / RATE) * RATE) / RATE
                if end_s is not None:
                    room = round((end_s - position) * RATE) - emitted - held
                    cut = cut[: max(0, room)]
                if len(cut):
                    buffer.append(cut)
                    held += len(cut)
                while held >= size:
                    block = np.concatenate(buffer)
                    yield Chunk(position + emitted / RATE, block[:size])
                    emitted += size
                    buffer, held = [block[size:]], held - size
                if end_s is not None and position + (emitted + held) / RATE >= end_s:
                    break
        except av.error.FFmpegError as exc:
            raise AudioUnreadable(f"audio track {stream.number} cannot be decoded ({exc})") from exc
    if held:
        yield Chunk((position or 0.0) + emitted / RATE, np.concatenate(buffer))


def _frames(
    container: Any, source: Any, resampler: Any, damage: Damage
) -> Iterator[tuple[Samples, float | None]]:
    """Resampled mono samples of each decoded frame, with the time of its first sample;
    silence for a packet that cannot be decoded."""
    import av

    for packet in container.demux(source):
        try:
            frames = packet.decode()
        except av.error.InvalidDataError:
            seconds = float(packet.duration * packet.time_base) if packet.duration else 0.0
            damage.packets += 1
            damage.seconds += seconds
            at = float(packet.pts * packet.time_base) if packet.pts is not None else None
            yield np.zeros(round(seconds * RATE), np.float32), at
            continue
        for frame in frames:
            at = float(frame.pts * frame.time_base) if frame.pts is not None else None
            for out in resampler.resample(frame):
                yield out.to_ndarray().reshape(-1).astype(np.float32, copy=False), at
                at = None
    for out in resampler.resample(None):
        yield out.to_ndarray().reshape(-1).astype(np.float32, copy=False), None
