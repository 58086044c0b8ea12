"""An archive run from start to end: what is left to do, the output folder held, Ray joined
and left, each finished video added to the manifest; events for whoever shows progress."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import UsageError, field
from ..files import check_folder, folder_lock
from ..model import memory
from ..model.catalog import find_spec, spec_config
from ..model.checks import check_model_folder
from ..model.resolver import looks_like_path
from . import ray_pool
from .jobs import Job, Outcome
from .manifest import (
    Entry,
    Manifest,
    expected_outputs,
    finished,
    output_names,
    remove_leftovers,
)


@dataclass(frozen=True)
class Plan:
    """The videos of an archive, their outputs, and which of them are still to do (the
    others finished, or failed for a reason of their own, with the same settings)."""

    job: Job
    videos: list[Path]
    outputs: list[Path]
    todo: list[int]
    manifest: Manifest

    def _latest(self) -> dict[str, Entry]:
        outputs = expected_outputs(self.videos, self.outputs)
        return self.manifest.latest(self.job.command, outputs)

    @property
    def skipped(self) -> tuple[int, int]:
        """(done, failed) among the videos a rerun skips."""
        latest = self._latest()
        todo = set(self.todo)
        skipped = [n for n in range(len(self.videos)) if n not in todo]
        failed = sum(1 for n in skipped if latest[str(self.videos[n].absolute())].status != "ok")
        return len(skipped) - failed, failed

    def may_write(self, number: int) -> bool:
        """Whether a video's output may be written: nothing is there yet, or it is a record
        the manifest shows this tool wrote (a highlights folder's reports are checked
        against the folder's own ledger when they are written)."""
        output = self.outputs[number]
        if self.job.command != "analyze" or not (output.exists() or output.is_symlink()):
            return True
        written = {e.output for e in self.manifest.entries() if e.status == "ok"}
        return str(output.absolute()) in written and output.is_file() and not output.is_symlink()

    def entries(self) -> list[Entry | None]:
        """Each video's last manifest line (None: never finished), in the order given."""
        latest = self._latest()
        return [latest.get(str(video.absolute())) for video in self.videos]


def check_request(workers: int | None) -> None:
    """Raise a usage error, before any work, when Ray is not installed or `workers` < 1."""
    ray_pool.require_ray()
    if workers is not None and workers < 1:
        raise UsageError(f"{field('workers')} must be at least 1", hint="leave it out for auto")


def plan(job: Job, videos: list[Path], folder: Path, fresh: bool = False) -> Plan:
    """What a run of `job` over `videos` into `folder` has to do (everything with `fresh`)."""
    check_folder(folder)
    manifest = Manifest(folder)
    outputs = output_names(videos, folder, job.command)
    skip = set() if fresh else finished(job, videos, outputs, manifest)
    todo = [n for n in range(len(videos)) if n not in skip]
    return Plan(job, videos, outputs, todo, manifest)


@dataclass(frozen=True)
class Started:
    """Ray is joined and the pool is about to start."""

    cluster: ray_pool.Cluster
    placement: ray_pool.Placement


@dataclass(frozen=True)
class Finished:
    """One video is done (or failed) and in the manifest."""

    video: Path
    outcome: Outcome
    entry: Entry


Event = Started | Finished


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


@contextlib.contextmanager
def holding(work: Plan) -> Iterator[None]:
    """Hold the output folder for the run (a second run into it fails at once), clearing
    what killed workers left beside the outputs to do, before and after."""
    with folder_lock(work.manifest.path.parent):
        work.manifest.repair()
        outputs = [work.outputs[n] for n in work.todo]
        remove_leftovers(outputs)
        try:
            yield
        finally:
            remove_leftovers(outputs)


def run(
    work: Plan,
    address: str | None,
    workers: int | None = None,
    fresh: bool = False,
    size: tuple[int, int] = (8, 256),
) -> Iterator[Event]:
    """Join Ray (`address` None: a local instance), run the videos still to do on its
    workers and add each to the manifest as it finishes; leave Ray at the end, however the
    run ends. Call it inside `holding(work)`.

    `size` is (frames per request, tokens per answer), for the workers' memory estimate. A
    model that cannot be loaded stops the run with its error.
    """
    check_request(workers)
    job = work.job
    todo = []
    for n in work.todo:
        if fresh or work.may_write(n):
            todo.append(n)
        else:
            video, outcome = work.videos[n], _foreign(work.videos[n], work.outputs[n])
            yield Finished(video, outcome, work.manifest.append(job, video, outcome))
    if not todo:
        return
    cluster = ray_pool.connect(address)
    try:
        place = ray_pool.placement(cluster, job.session.device, model_bytes(job, *size), workers)
        yield Started(cluster, place)
        items = [(work.videos[n].absolute(), work.outputs[n].absolute()) for n in todo]
        positions = {str(work.videos[n].absolute()): n for n in todo}
        for outcome in ray_pool.run(job, items, place, fresh):
            if outcome.fatal:
                raise outcome.failure()
            video = work.videos[positions[outcome.video]]
            yield Finished(video, outcome, work.manifest.append(job, video, outcome))
    finally:
        ray_pool.disconnect()


def _foreign(video: Path, output: Path) -> Outcome:
    """The outcome of a video whose record would replace a file the tool did not write."""
    return Outcome(
        str(video),
        "failed",
        None,
        0.0,
        error=f"{output} exists and was not written by this tool",
        hint=f"move it away, choose another {field('output')}, or use {field('fresh')} to"
        " replace it",
        retry=True,
    )
