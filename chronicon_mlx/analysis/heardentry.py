"""What was heard, as a video cache entry: times and loudness as arrays, texts and facts as
JSON in the header (read back with every type and length checked)."""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from ..audio.hear import Hearing
from ..audio.speech import SpeechSegment, VoiceRegion
from ..audio.track import AudioStream

Array = Any


def heard_entry(heard: Hearing) -> tuple[dict[str, Array], dict[str, str]]:
    """The entry's arrays and header fields."""
    tensors = {
        "loudness": np.asarray(heard.loudness, np.float32),
        "regions": np.asarray([(r.start_s, r.end_s) for r in heard.regions], np.float64),
        "segments": np.asarray([(s.start_s, s.end_s) for s in heard.segments], np.float64),
    }
    stream = heard.stream
    meta = {
        "texts": json.dumps([s.text for s in heard.segments]),
        "stream": json.dumps(None if stream is None else stream.__dict__),
        "span": json.dumps([heard.start_s, heard.end_s]),
        "speech": json.dumps([heard.speech_model, heard.speech_engine]),
        "notes": json.dumps(heard.notes),
    }
    return tensors, meta


def heard_from(tensors: dict[str, Array], meta: dict[str, str]) -> Hearing:
    """A `Hearing` from an entry; KeyError, ValueError or TypeError when it is not one."""
    texts = json.loads(meta["texts"])
    regions = tensors["regions"].reshape(-1, 2)
    segments = tensors["segments"].reshape(-1, 2)
    if not isinstance(texts, list) or len(texts) != len(segments):
        raise ValueError("texts and segment times disagree")
    stream_data = json.loads(meta["stream"])
    stream = None if stream_data is None else AudioStream(**stream_data)
    start_s, end_s = (float(t) for t in json.loads(meta["span"]))
    model, engine = json.loads(meta["speech"])
    notes = json.loads(meta["notes"])
    return Hearing(
        stream=stream,
        start_s=start_s,
        end_s=end_s,
        loudness=[float(v) for v in tensors["loudness"]],
        regions=[VoiceRegion(float(a), float(b)) for a, b in regions],
        segments=[
            SpeechSegment(float(a), float(b), str(text))
            for (a, b), text in zip(segments, texts, strict=True)
        ],
        speech_model=None if model is None else str(model),
        speech_engine=None if engine is None else str(engine),
        notes=[str(n) for n in notes],
    )
