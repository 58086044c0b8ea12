"""What the library keeps of a run, read from its JSON record: the video, the pass (model,
profile, the settings that decide the answers) and its moments. A record read back from a
folder is checked field by field; one that does not hold is a RecordError."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

NOT_SETTINGS = frozenset(
    ("video", "backend", "device", "min_significance", "max_highlights", "windows", "decoder")
)
"""Parameters that do not change what a pass says about the video (where it ran, how the
ranking is cut, what the record counts)."""


class RecordError(ValueError):
    """A JSON record the library cannot read."""


@dataclass(frozen=True)
class Moment:
    """One described time range of a video."""

    start_s: float
    end_s: float
    significance: int | None
    description: str
    speech: str = ""
    thumbnail: str | None = None
    question: str | None = None


@dataclass(frozen=True)
class Described:
    """One pass over one video, as the library stores it."""

    video: Path
    duration_s: float
    model: str
    profile: str
    kind: str
    settings: str
    moments: list[Moment]


def settings_key(parameters: dict[str, Any]) -> str:
    """The pass's settings as one canonical JSON text (what `add` compares)."""
    kept = {k: v for k, v in parameters.items() if k not in NOT_SETTINGS}
    return json.dumps(kept, sort_keys=True, ensure_ascii=False)


def described(record: dict[str, Any], folder: Path | None = None) -> Described:
    """A highlights record (``kind: highlights``) or an analysis record, as a pass; window
    thumbnails are made absolute against `folder`, the record's folder."""
    if not isinstance(record, dict):
        raise RecordError("the record is not a JSON object")
    if record.get("kind") == "highlights":
        return _highlights(record, folder)
    if "analysis" in record:
        return _answers(record)
    raise RecordError("neither a highlights nor an analysis record")


def _highlights(record: dict[str, Any], folder: Path | None) -> Described:
    transcript = _transcript(record)
    moments = []
    for window in _list(record, "windows"):
        if not isinstance(window, dict):
            raise RecordError("a window is not a JSON object")
        text = window.get("description")
        if text is None:
            continue  # never scored: nothing to search for
        start, end = _time(window, "start_s"), _time(window, "end_s")
        score = window.get("significance")
        if score is not None and (not isinstance(score, int) or isinstance(score, bool)):
            raise RecordError(f"window {window.get('window')}: the significance is not a number")
        moments.append(
            Moment(
                start,
                end,
                score,
                _text(text, "description"),
                _said(transcript, start, end),
                _thumbnail(window.get("thumbnail"), folder),
            )
        )
    return Described(
        _path(record),
        _duration(record),
        _text(record.get("model"), "model"),
        _text(_dict(record, "profile").get("name"), "profile"),
        "highlights",
        settings_key(_dict(record, "parameters")),
        moments,
    )


def _answers(record: dict[str, Any]) -> Described:
    parameters = _dict(record, "inference_parameters")
    start = _time(parameters, "start_s")
    end_value = parameters.get("end_s")
    end = _duration(record) if end_value is None else _time(parameters, "end_s")
    turns = record.get("answers") or [record]
    if not isinstance(turns, list):
        raise RecordError("answers is not a list")
    said = _said(_transcript(record), start, end)
    moments = [
        Moment(
            start,
            end,
            None,
            _text(turn.get("analysis"), "analysis"),
            said,
            question=_text(turn.get("prompt"), "prompt"),
        )
        for turn in turns
        if isinstance(turn, dict)
    ]
    settings = {
        **parameters,
        "model": record.get("model"),
        "system": record.get("system"),
        "questions": [m.question for m in moments],
    }
    return Described(
        _path(record),
        _duration(record),
        _text(record.get("model"), "model"),
        str(record.get("profile") or ""),
        "answers",
        settings_key(settings),
        moments,
    )


def _transcript(record: dict[str, Any]) -> list[tuple[float, float, str]]:
    audio = record.get("audio")
    if not isinstance(audio, dict):
        return []
    segments = audio.get("transcript") or []
    if not isinstance(segments, list):
        raise RecordError("the transcript is not a list")
    return [
        (_time(s, "start_s"), _time(s, "end_s"), _text(s.get("text"), "text"))
        for s in segments
        if isinstance(s, dict)
    ]


def _said(transcript: list[tuple[float, float, str]], start_s: float, end_s: float) -> str:
    """The words said during [start_s, end_s)."""
    return " ".join(text for begin, end, text in transcript if end > start_s and begin < end_s)


def _thumbnail(value: Any, folder: Path | None) -> str | None:
    if value is None:
        return None
    path = Path(_text(value, "thumbnail"))
    if folder is not None and not path.is_absolute():
        inside = (folder / path).resolve()
        if not inside.is_relative_to(folder.resolve()):
            raise RecordError(f"the thumbnail {value!r} is outside the record's folder")
        return str(inside)
    return str(path)


def _path(record: dict[str, Any]) -> Path:
    return Path(_text(record.get("video_path"), "video_path"))


def _duration(record: dict[str, Any]) -> float:
    return _time(_dict(record, "video_info"), "duration_s")


def _dict(record: dict[str, Any], key: str) -> dict[str, Any]:
    value = record.get(key)
    if not isinstance(value, dict):
        raise RecordError(f"{key} is missing or not a JSON object")
    return value


def _list(record: dict[str, Any], key: str) -> list[Any]:
    value = record.get(key)
    if not isinstance(value, list):
        raise RecordError(f"{key} is missing or not a list")
    return value


def _time(data: dict[str, Any], key: str) -> float:
    value = data.get(key)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise RecordError(f"{key} is missing or not a time in seconds")
    return float(value)


def _text(value: Any, what: str) -> str:
    if not isinstance(value, str):
        raise RecordError(f"{what} is missing or not text")
    return value
