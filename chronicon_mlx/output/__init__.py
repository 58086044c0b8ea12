"""Results to files: the JSON record, captions, reports and the reel, always atomically."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import field as field_name
from ..files import atomic_write_text
from ..highlight.result import HighlightsResult
from ..options.choices import DEFAULT_FORMATS, FORMATS, SORTS, Sort, check_choice
from .captions import speech_cues, srt_of, vtt_of, write_srt, write_vtt
from .chapters import chapters_vtt_of, ffmetadata_of, youtube_of
from .editors import write_edl, write_otio
from .json_record import write_json
from .ledger import Ledger
from .marks import highlight_marks
from .reel import Reel, write_reel
from .report import write_html, write_markdown

_WRITERS: dict[str, Callable[[HighlightsResult, Path, Sort], Path]] = {
    "json": lambda result, path, sort: write_json(result.to_dict(), path),
    "srt": lambda result, path, sort: write_srt(result.windows, path),
    "vtt": lambda result, path, sort: write_vtt(result.windows, path),
    "md": write_markdown,
    "html": write_html,
    "speech.srt": lambda result, path, sort: atomic_write_text(
        path, srt_of(speech_cues(result.audio))
    ),
    "speech.vtt": lambda result, path, sort: atomic_write_text(
        path, vtt_of(speech_cues(result.audio))
    ),
    "ffmetadata": lambda result, path, sort: atomic_write_text(
        path, ffmetadata_of(highlight_marks(result))
    ),
    "chapters.vtt": lambda result, path, sort: atomic_write_text(
        path, chapters_vtt_of(highlight_marks(result))
    ),
    "youtube.txt": lambda result, path, sort: atomic_write_text(
        path, youtube_of(highlight_marks(result))
    ),
    "edl": lambda result, path, sort: write_edl(highlight_marks(result), path, _name(result)),
    "otio": lambda result, path, sort: write_otio(highlight_marks(result), path, _name(result)),
}


def _name(result: HighlightsResult) -> str:
    """A timeline's name: the video's, with its highlights."""
    return f"{Path(result.video_path).stem} highlights"


@dataclass(frozen=True)
class Written:
    """The files a highlights run wrote, the reel when one was cut, and the reports of
    formats an earlier run wrote into the folder that were not asked for this time (removed
    when the folder's ledger shows the tool wrote them and nobody changed them since)."""

    paths: list[Path] = field(default_factory=list)
    reel: Reel | None = None
    removed: list[Path] = field(default_factory=list)


def highlights_path(result: HighlightsResult, folder: Path, fmt: str) -> Path:
    """Where format `fmt` of a highlights result goes: ``<stem>_highlights.<fmt>``."""
    return report_path(Path(result.video_path), folder, fmt)


def report_path(video: Path, folder: Path, fmt: str) -> Path:
    """Where format `fmt` of `video`'s highlights goes: ``<stem>_highlights.<fmt>``."""
    return folder / f"{video.stem}_highlights.{fmt}"


def check_targets(
    video: Path,
    folder: Path,
    formats: Sequence[str],
    reel: Path | None = None,
    overwrite: bool = False,
) -> None:
    """Fail before any work when a report (or a reel inside the folder) would replace a
    file the tool did not write there (unless `overwrite`)."""
    ledger = Ledger.read(folder)
    for fmt in formats:
        ledger.check(report_path(video, folder, fmt), overwrite)
    if reel is not None and reel.parent == folder:
        ledger.check(reel, overwrite)


def write_highlights(
    result: HighlightsResult,
    folder: Path,
    formats: Sequence[str] = DEFAULT_FORMATS,
    sort: Sort = "score",
    reel: Path | None = None,
    overwrite: bool = False,
) -> Written:
    """Write each of `formats` (json, srt, vtt, md, html, speech captions, chapters, editor
    timelines) into `folder`, and with `reel` cut
    the highlights into that clip. A file of the same name that the tool did not write is
    never replaced (an OutputError says so) unless `overwrite`; reports of other formats
    the tool wrote there before are removed, so the folder holds one run's outputs."""
    check_choice(sort, SORTS, field_name("sort"))
    for fmt in formats:
        check_choice(fmt, FORMATS, field_name("formats"))
    video = Path(result.video_path)
    check_targets(video, folder, formats, reel, overwrite)
    ledger = Ledger.read(folder)
    cut = write_reel(result.source, result.highlights, reel) if reel is not None else None
    paths = []
    for fmt in formats:
        target = highlights_path(result, folder, fmt)
        if fmt == "html":
            paths.append(write_html(result, target, sort, cut.path if cut else None))
        else:
            paths.append(_WRITERS[fmt](result, target, sort))
    if cut is not None:
        paths.append(cut.path)
    for path in paths:
        ledger.add(path)
    removed = []
    for fmt in FORMATS:
        stale = highlights_path(result, folder, fmt)
        if fmt not in formats and ledger.owns(stale):
            stale.unlink()
            ledger.drop(stale)
            removed.append(stale)
    ledger.save()
    return Written(paths, cut, removed)
