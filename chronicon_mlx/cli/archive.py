"""`analyze --ray` and `highlights --ray`: one progress bar over the archive's videos, each
failure as it happens, the summary (or every record as JSON) at the end."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from ..archive import run as archive
from ..archive.jobs import Job
from ..archive.manifest import MAX_MANIFEST_BYTES, Entry
from ..errors import EXIT_FAILURE, OutputError, UsageError, field
from ..files import read_own
from ..text import json_text
from .batch import Row
from .render import EtaColumn, line, plural, print_error, stdout_console, summary_table

if TYPE_CHECKING:
    from ..library.store import Library


def archive_folder(output: Path | None, base: Path) -> Path:
    """The folder an archive run writes into (``--output``, else the results folder)."""
    folder = (output or base).expanduser()
    if folder.suffix == ".json":
        raise UsageError(
            f"with {field('ray')}, {field('output')} names a folder (each video's record gets"
            " a stable name in it)",
            hint=f"give a folder, e.g. {field('output', 'results/')}",
        )
    return folder


def run_archive(
    job: Job,
    videos: list[Path],
    folder: Path,
    address: str,
    workers: int | None,
    fresh: bool,
    size: tuple[int, int],
    console: Console,
    as_json: bool,
    library: Library | None = None,
) -> None:
    """Run `job` over `videos` on Ray into `folder` (resuming unless `fresh`), then print the
    summary (or the JSON of every video) and exit 1 when any video failed. With `library`,
    the driver stores every finished video's record there (one writer for the cluster).

    `size` is (frames per request, tokens per answer), for the workers' memory estimate.
    """
    archive.check_request(workers)
    work = archive.plan(job, videos, folder, fresh)
    done, failed = work.skipped
    if done or failed:
        console.print(
            line(
                (
                    f"{done} done and {failed} failed before with these settings"
                    f" ({work.manifest.path}); {len(work.todo)} to do; --fresh does them all again",
                    "dim",
                )
            )
        )
    with archive.holding(work):
        _show_run(work, address, workers, fresh, size, console)
    entries = work.entries()
    if library is not None:
        _to_library(library, folder, entries, fresh, console)
    if as_json:
        typer.echo(json_text(_json(job, videos, entries)))
    else:
        rows = [_row(video, entry).as_dict() for video, entry in zip(videos, entries, strict=True)]
        stdout_console().print(summary_table(rows))
    failures = sum(1 for entry in entries if entry is None or entry.status != "ok")
    if failures:
        console.print(line((f"{failures} of {len(videos)} videos failed", "red")))
        raise typer.Exit(EXIT_FAILURE)


def _to_library(
    library: Library, folder: Path, entries: list[Entry | None], fresh: bool, console: Console
) -> None:
    """Store each finished video's JSON record (read back from inside the archive folder)."""
    from ..library.importing import store_record

    added = 0
    for entry in entries:
        if entry is None or entry.status != "ok" or entry.output is None:
            continue
        path = Path(entry.output)
        if not path.absolute().is_relative_to(folder.absolute()):
            continue
        stored = store_record(library, path, replace=fresh)
        added += stored.added
        if stored.skipped is not None and not stored.known:
            console.print(line((f"library: {path} not stored ({stored.skipped})", "yellow")))
    console.print(line((f"library: {plural(added, 'moment')} added ({library.path})", "dim")))


def _show_run(
    work: archive.Plan,
    address: str,
    workers: int | None,
    fresh: bool,
    size: tuple[int, int],
    console: Console,
) -> None:
    """The run's events as lines and one progress bar over the videos."""
    if not work.todo:
        return
    where = "a local Ray instance" if address == "local" else f"the Ray cluster at {address}"
    console.print(line((f"starting {where}…", "dim")))
    total = len(work.todo)
    with _progress(console) as progress:
        bar = None
        done = failed = running = 0
        events = archive.run(work, None if address == "local" else address, workers, fresh, size)
        for event in events:
            if isinstance(event, archive.Started):
                cluster, place = event.cluster, event.placement
                console.print(
                    line(
                        (
                            f"Ray: {plural(cluster.nodes, 'node')}, {cluster.cpus:g} CPUs"
                            + (f", {cluster.gpus:g} GPUs" if cluster.gpus else "")
                            + f"; {plural(place.workers, 'worker')} for {plural(total, 'video')}",
                            "dim",
                        )
                    )
                )
                running = min(place.workers, total)
                bar = progress.add_task("videos", total=total, ok=0, failed=0, running=running)
                continue
            done += 1
            outcome, video = event.outcome, event.video
            if outcome.status != "ok":
                failed += 1
                print_error(console, outcome.failure(), prefix=f"{video.name}: ")
            elif not progress.live.is_started or progress.disable:
                console.print(line(f"done {video.name} ({outcome.seconds:.1f} s)"))
            if bar is not None:
                running = min(running, total - done)
                progress.update(bar, advance=1, ok=done - failed, failed=failed, running=running)


def _progress(console: Console) -> Progress:
    """One bar over the videos: done of all, how many failed and are running, ETA."""
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(bar_width=24),
        MofNCompleteColumn(),
        TextColumn(
            "ok {task.fields[ok]} · failed {task.fields[failed]} · running {task.fields[running]}"
        ),
        TimeElapsedColumn(),
        EtaColumn(),
        console=console,
        disable=not console.is_terminal or console.quiet,
    )


def _row(video: Path, entry: Entry | None) -> Row:
    """A video's line of the summary, from its manifest entry."""
    if entry is None:
        return Row(video.name, None, 0.0, False, "not run (interrupted)")
    duration, detail = None, entry.error or ""
    if entry.status == "ok" and entry.output:
        data = _read(Path(entry.output))
        duration = (data.get("video_info") or data.get("source") or {}).get("duration_s")
        detail = str(data.get("analysis") or f"{len(data.get('highlights', []))} highlights")
    return Row(video.name, duration, entry.seconds, entry.status == "ok", detail)


def _read(path: Path) -> dict[str, Any]:
    """A finished video's record or report."""
    try:
        data: dict[str, Any] = json.loads(read_own(path, MAX_MANIFEST_BYTES) or b"")
    except (OSError, ValueError, RecursionError) as exc:
        raise OutputError(f"cannot read {path}: {exc}", hint="rerun with --fresh") from exc
    if not isinstance(data, dict):
        raise OutputError(f"{path} does not hold a record", hint="rerun with --fresh")
    return data


def _json(job: Job, videos: list[Path], entries: list[Entry | None]) -> list[dict[str, Any]]:
    """What --json prints: each video's record (analyze: with its status, failed videos as
    the reason) or each finished video's highlights report, in the order given."""
    out: list[dict[str, Any]] = []
    for video, entry in zip(videos, entries, strict=True):
        output = entry.output if entry is not None and entry.status == "ok" else None
        if job.command == "highlights":
            if output:
                out.append(_read(Path(output)))
        elif output:
            out.append({**_read(Path(output)), "status": "ok"})
        else:
            error = entry.error if entry is not None else "not run (interrupted)"
            out.append({"video_path": str(video), "status": "failed", "error": error})
    return out
