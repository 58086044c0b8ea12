"""The audio stage of a run: the session's speech model (loaded once), the track heard,
and the transcript fitted into the prompt's room."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path

from ..audio.engines import SpeechUnavailable, load_speech, speech_folder
from ..audio.hear import Hearing, hear
from ..audio.random_whisper import MARK
from ..audio.speech import SpeechEngine
from ..audio.track import CHUNK_S, AudioUnreadable, audio_streams, pick_stream
from ..model.context import context_length, prompt_tokens, speech_words
from ..model.prompt import Speech, speech_line
from ..model.resolver import ModelRef
from .params import HearingConfig
from .runlog import RunLog
from .videocache import VideoCache


@dataclass
class SpeechSlot:
    """A session's speech model: found and loaded on first use, then kept."""

    model: str
    allow_download: bool
    _folder: Path | None = field(default=None, repr=False)
    _engine: SpeechEngine | None = field(default=None, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def folder(self, download: bool) -> Path:
        """The model's local folder; `download` lets a missing model be fetched (when the
        session allows downloads). `SpeechUnavailable` when it cannot be had that way."""
        with self._lock:
            if self._folder is None:
                self._folder = speech_folder(self.model, self.allow_download and download)
            return self._folder

    def engine(self, download: bool) -> SpeechEngine:
        """The loaded engine (see `folder`)."""
        folder = self.folder(download)
        with self._lock:
            if self._engine is None:
                self._engine = load_speech(folder, self.model)
            return self._engine


def listen(
    slot: SpeechSlot,
    cache: VideoCache | None,
    path: Path,
    hearing: HearingConfig,
    span: tuple[float, float | None],
    run: RunLog,
    loudness: bool = False,
) -> Hearing | None:
    """Hear the video's audio between `span`'s times, as the run's "hear" stage: speech
    when `hearing` asks for it (or leaves it to the default and the model is here), and
    the loudness per second. None when the audio is left alone (with `loudness`, only when
    there is none); notes say why speech is off. With a video `cache`, what was heard is
    kept there and read back by the next run."""
    if hearing.speech is False and not loudness:
        return None
    try:
        streams = audio_streams(path)
    except AudioUnreadable as exc:
        run.note(f"the audio cannot be read ({exc}): vision only")
        return None
    if not streams:
        if hearing.speech:
            run.note("the video has no audio track: vision only")
        return None
    stream = pick_stream(streams, hearing.track)
    folder = _speech_folder(slot, hearing, run)
    if folder is None and not loudness:
        return None
    start_s, end_s = span
    key = None
    if cache is not None:
        key = cache.heard_key(path, folder, [stream.number, start_s, end_s, CHUNK_S])
        kept = cache.read_heard(key, run.note)
        if kept is not None:
            for message in kept.notes:
                run.note(message)
            return kept
    engine = slot.engine(download=bool(hearing.speech)) if folder is not None else None
    with run.stage("hear"):
        heard = hear(path, engine, stream.number, start_s, end_s)
    for message in heard.notes:
        run.note(message)
    if key is not None and cache is not None and not heard.notes:
        cache.write_heard(key, heard, run.note)
    return heard


def _speech_folder(slot: SpeechSlot, hearing: HearingConfig, run: RunLog) -> Path | None:
    """The speech model's folder, or None when speech is off (a note says why, when it was
    left to the default)."""
    if hearing.speech is False:
        return None
    try:
        folder = slot.folder(download=bool(hearing.speech))
    except SpeechUnavailable as exc:
        if hearing.speech:
            raise
        run.note(f"speech off: {exc} (ask for speech to fetch it, or pick another speech model)")
        return None
    if (folder / MARK).is_file():
        run.note(f"the speech model {slot.model} has random weights: its transcript is noise")
    return folder


def fit_speech(model: ModelRef, heard: Hearing | None, room: int, run: RunLog) -> Speech:
    """The transcript lines that fit in half of `room` tokens (the rest of the room is left
    for follow-up questions); a note says how many were left out."""
    if heard is None or not heard.segments:
        return []
    budget = max(0, room) // 2
    said = [
        (segment.start_s, segment.end_s, words)
        for segment in heard.segments
        if (words := speech_words(model, segment.text))
    ]
    kept: list[tuple[float, float, str]] = []
    used = 0
    for line in said:
        cost = prompt_tokens(model, speech_line(*line))
        if used + cost > budget:
            break
        kept.append(line)
        used += cost
    if len(kept) < len(said):
        run.note(
            f"speech: {len(kept)} of {len(said)} transcript lines fit in the prompt;"
            " the rest were left out (fewer frames leave more room)"
        )
    return kept


def room_for_speech(model: ModelRef, counted: int, max_tokens: int) -> int:
    """Tokens the context has left after a prompt of `counted` tokens and the answer."""
    return context_length(model) - counted - max_tokens
