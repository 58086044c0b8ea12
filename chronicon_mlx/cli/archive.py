"""`analyze --ray` and `highlights --ray`: the videos of an archive on Ray workers, with one
progress bar, a manifest appended as videos finish, resume, and the summary at the end."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from ..archive import ray_pool
from ..archive.jobs import Job, Outcome
from ..archive.manifest import Entry, Manifest, finished, output_names, remove_leftovers
from ..errors import EXIT_FAILURE, OutputError, UsageError, field
from ..files import check_folder, folder_lock
from ..model import memory
from ..model.catalog import find_spec, spec_config
from ..model.checks import check_model_folder
from ..model.resolver import looks_like_path
from ..text import json_text
from .batch import Row
from .render import EtaColumn, line, plural, print_error, stdout_console, summary_table


def archive_folder(output: Path | None, base: Path) -> Path:
    """The folder an archive run writes into (``--output``, else the results folder)."""
    folder = (output or base).expanduser()
    if folder.suffix == ".json":
        raise UsageError(
            f"with {field('ray')}, {field('output')} names a folder (each video's record gets"
            " a stable name in it)",
            hint=f"give a folder, e.g. {field('output', 'results/')}",
        )
    check_folder(folder)
    return folder


def model_bytes(job: Job, frames: int, max_tokens: int) -> float | None:
    """What one worker's model needs in memory, when its architecture is known here."""
    model = job.session.model
    spec = find_spec(model)
    config: dict[str, Any] | None = spec_config(spec) if spec else None
    if config is None and looks_like_path(model) and Path(model).is_dir():
        config = check_model_folder(Path(model))
    if config is None:
        return None
    dtype = job.session.dtype if job.session.dtype != "auto" else "float32"
    quantize = job.session.quantize if job.session.quantize in ("4bit", "8bit") else None
    return memory.estimate(config, dtype, quantize, frames, max_tokens).total


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
) -> None:
    """Run `job` over `videos` on Ray into `folder` (resuming unless `fresh`), then print the
    summary (or the JSON of every video) and exit 1 when any video failed.

    `size` is (frames per request, tokens per answer), for the workers' memory estimate.
    """
    ray_pool.require_ray()
    if workers is not None and workers < 1:
        raise UsageError(f"{field('workers')} must be at least 1", hint="leave it out for auto")
    outputs = output_names(videos, folder, job.command)
    manifest = Manifest(folder)
    with folder_lock(folder):
        skip = set() if fresh else finished(job, videos, manifest)
        todo = [n for n in range(len(videos)) if n not in skip]
        if skip:
            latest = manifest.latest(job.command)
            bad = sum(1 for n in skip if latest[str(videos[n].absolute())].status != "ok")
            console.print(line((
                f"{len(skip) - bad} done and {bad} failed before with these settings"
                f" ({manifest.path}); {len(todo)} to do; --fresh does them all again",
                "dim",
            )))  # fmt: skip
        remove_leftovers([outputs[n] for n in todo])
        try:
            if todo:
                _run(job, videos, outputs, todo, manifest, address, workers, fresh, size, console)
        finally:
            remove_leftovers([outputs[n] for n in todo])
    latest = manifest.latest(job.command)
    entries = [latest.get(str(video.absolute())) for video in videos]
    if as_json:
        typer.echo(json_text(_json(job, videos, entries)))
    else:
        stdout_console().print(summary_table([_row(v, e).as_dict() for v, e in zip(
            videos, entries, strict=True)]))  # fmt: skip
    failed = sum(1 for entry in entries if entry is None or entry.status != "ok")
    if failed:
        console.print(line((f"{failed} of {len(videos)} videos failed", "red")))
        raise typer.Exit(EXIT_FAILURE)


def _run(
    job: Job,
    videos: list[Path],
    outputs: list[Path],
    todo: list[int],
    manifest: Manifest,
    address: str,
    workers: int | None,
    fresh: bool,
    size: tuple[int, int],
    console: Console,
) -> None:
    """Start or join Ray, run the videos still to do, append each outcome to the manifest."""
    where = "a local Ray instance" if address == "local" else f"the Ray cluster at {address}"
    console.print(line((f"starting {where}…", "dim")))
    cluster = ray_pool.connect(None if address == "local" else address)
    try:
        place = ray_pool.placement(cluster, job.session.device, model_bytes(job, *size), workers)
        console.print(line((
            f"Ray: {plural(cluster.nodes, 'node')}, {cluster.cpus:g} CPUs"
            + (f", {cluster.gpus:g} GPUs" if cluster.gpus else "")
            + f"; {plural(place.workers, 'worker')} for {plural(len(todo), 'video')}",
            "dim",
        )))  # fmt: skip
        items = [(videos[n].absolute(), outputs[n].absolute()) for n in todo]
        positions = {str(videos[n].absolute()): n for n in todo}
        with _progress(console) as progress:
            bar = progress.add_task("videos", total=len(todo), ok=0, failed=0,
                                    running=min(place.workers, len(todo)))  # fmt: skip
            failed = 0
            for done, outcome in enumerate(ray_pool.run(job, items, place, fresh), start=1):
                if outcome.fatal:
                    raise outcome.failure()
                video = videos[positions[outcome.video]]
                manifest.append(job, video, outcome)
                if outcome.status != "ok":
                    failed += 1
                    print_error(console, outcome.failure(), prefix=f"{video.name}: ")
                elif not progress.live.is_started:
                    console.print(line(f"done {video.name} ({outcome.seconds:.1f} s)"))
                progress.update(bar, advance=1, ok=done - failed, failed=failed,
                                running=min(place.workers, len(todo) - done))  # fmt: skip
    finally:
        ray_pool.disconnect()


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
        data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise OutputError(f"cannot read {path}: {exc}", hint="rerun with --fresh") from exc
    return data


def _json(job: Job, videos: list[Path], entries: list[Entry | None]) -> list[dict[str, Any]]:
    """What --json prints: each video's record (analyze: with its status, failed videos as
    the reason) or each finished video's highlights report, in the order given."""
    out: list[dict[str, Any]] = []
    for video, entry in zip(videos, entries, strict=True):
        ok = entry is not None and entry.status == "ok" and entry.output is not None
        if job.command == "highlights":
            if ok and entry is not None and entry.output:
                out.append(_read(Path(entry.output)))
        elif ok and entry is not None and entry.output:
            out.append({**_read(Path(entry.output)), "status": "ok"})
        else:
            error = entry.error if entry is not None else "not run (interrupted)"
            out.append({"video_path": str(video), "status": "failed", "error": error})
    return out


__all__ = ["Outcome", "archive_folder", "run_archive"]
