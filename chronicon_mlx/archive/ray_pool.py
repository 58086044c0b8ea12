"""Archive jobs on Ray: a Ray Data actor pool whose workers each open one model session
and take videos from the dataset's queue. A worker that dies is restarted by Ray and its
video given again; outputs are written atomically, so a killed worker leaves nothing
half-written."""

from __future__ import annotations

import contextlib
import dataclasses
import importlib.util
import json
import os
import socket
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import ChroniconError, UsageError, field
from ..files import atomic_write_text, read_own
from .jobs import Job, Outcome, attempt

if TYPE_CHECKING:
    from ..analysis.session import ModelSession

INSTALL_HINT = "pip install 'chronicon-mlx[ray]'"
ATTEMPTS = 3
"""How many workers may die on one video before it is recorded as failed: Ray gives the
video of a dead worker to its replacement, and one that kills every worker it meets must
not hold the archive forever."""


def require_ray() -> None:
    """Raise a usage error with the install command when Ray is not installed."""
    if importlib.util.find_spec("ray") is None or importlib.util.find_spec("ray.data") is None:
        raise UsageError(
            f"{field('ray')} needs Ray (with Ray Data), which is not installed",
            hint=INSTALL_HINT,
        )


@dataclass(frozen=True)
class Cluster:
    """The Ray instance this run uses and what it offers."""

    address: str
    local: bool
    cpus: float
    gpus: float
    memory_bytes: float
    nodes: int


@contextlib.contextmanager
def _native_stderr_silenced() -> Iterator[None]:
    """Keep what Ray's native core prints while it starts (log lines, not errors: those are
    raised) off the user's terminal."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "wb") as sink:
            os.dup2(sink.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def _bootstrap_address(address: str) -> str:
    """The HOST:PORT that `address` leads to (``auto``: the cluster `ray start` set up on
    this machine, or RAY_ADDRESS)."""
    if address != "auto":
        return address
    from ray._private import services

    try:
        found = services.canonicalize_bootstrap_address("auto")
    except (ConnectionError, ValueError) as exc:
        found, reason = None, str(exc)
    else:
        reason = "no running cluster found"
    if not found:
        raise ChroniconError(
            f"cannot join the Ray cluster at auto: {reason}",
            hint="start one with `ray start --head`, or use --ray alone for a local instance",
        )
    return str(found)


def _check_reachable(address: str) -> None:
    """Fail at once when nothing listens at HOST:PORT (Ray itself would wait minutes)."""
    host, _, port = address.removeprefix("ray://").rpartition(":")
    try:
        with socket.create_connection((host or "127.0.0.1", int(port)), timeout=5):
            return
    except ValueError:
        reason = "it is not HOST:PORT"
    except OSError as exc:
        reason = exc.strerror or str(exc)
    raise ChroniconError(
        f"cannot join the Ray cluster at {address}: {reason}",
        hint="start it with `ray start --head` (it prints the address to give), or use"
        f" {field('ray')} alone for a local instance",
    )


def connect(address: str | None, num_cpus: int | None = None) -> Cluster:
    """Join the cluster at `address` (``auto``: the one `ray start` set up on this machine),
    or start a local Ray instance when it is None."""
    import logging

    os.environ.setdefault("RAY_BACKEND_LOG_LEVEL", "fatal")
    import ray

    logging.getLogger("ray").setLevel(logging.ERROR)
    quiet = {
        "include_dashboard": False,
        "log_to_driver": False,
        "logging_level": "ERROR",
        "configure_logging": True,
    }
    if address is not None:
        _check_reachable(_bootstrap_address(address))
    try:
        with _native_stderr_silenced():
            if address is None:
                ray.init(num_cpus=num_cpus, **quiet)
            else:
                ray.init(address=address, **quiet)
    except (ConnectionError, ValueError, RuntimeError) as exc:
        raise ChroniconError(
            f"cannot join the Ray cluster at {address}: {exc}",
            hint="start it with `ray start --head` (on the other nodes: `ray start --address"
            f" HEAD:6379`), or use {field('ray')} alone for a local instance",
        ) from exc
    resources = ray.cluster_resources()
    context = ray.get_runtime_context()
    return Cluster(
        address=str(getattr(context, "gcs_address", address or "local")),
        local=address is None,
        cpus=float(resources.get("CPU", 1.0)),
        gpus=float(resources.get("GPU", 0.0)),
        memory_bytes=float(resources.get("memory", 0.0)),
        nodes=len([n for n in ray.nodes() if n.get("Alive")]),
    )


def disconnect() -> None:
    """Leave the cluster (a local instance stops, with its workers)."""
    import ray

    ray.shutdown()


@dataclass(frozen=True)
class Placement:
    """How many workers, and what each one asks Ray for."""

    workers: int
    cpus: float
    gpus: float


def placement(
    cluster: Cluster, device: str, model_bytes: float | None, workers: int | None
) -> Placement:
    """One worker per CPU (per GPU when the cluster has GPUs and the device allows CUDA),
    as many as the cluster's memory holds models, at least one; `workers` overrides the
    count."""
    gpus = 1.0 if cluster.gpus >= 1 and device in ("auto", "cuda") else 0.0
    slots = int(cluster.gpus) if gpus else int(cluster.cpus)
    if model_bytes and cluster.memory_bytes:
        slots = min(slots, int(cluster.memory_bytes // model_bytes))
    count = workers if workers is not None else max(1, slots)
    return Placement(count, 1.0, gpus)


class _Worker:
    """One Ray actor: one model session, loaded on its first video, used for every video
    the pool gives it."""

    def __init__(self, job: Job, fresh: bool) -> None:
        self.job = job
        self.fresh = fresh
        self.session: ModelSession | None = None
        self.broken: ChroniconError | None = None
        try:
            self.session = job.session_kind()(job.session)
        except ChroniconError as error:
            self.broken = error

    def __call__(self, row: dict[str, Any]) -> dict[str, Any]:
        video, output = Path(row["video"]), Path(row["output"])
        marker = attempts_path(output)
        tries = _count_attempt(marker)
        if self.session is None:
            error = self.broken or ChroniconError("the worker has no model session")
            outcome = Outcome(
                str(video),
                "failed",
                None,
                0.0,
                error=error.template,
                hint=error.hint_template,
                fatal=True,
            )
        elif tries > ATTEMPTS:
            outcome = Outcome(
                str(video),
                "failed",
                None,
                0.0,
                error=f"{ATTEMPTS} workers died while working on this video",
                hint="check that the video plays; a rerun tries it again",
                retry=True,
            )
        else:
            outcome = attempt(self.job, self.session, video, output, self.fresh)
        with contextlib.suppress(OSError):
            marker.unlink()
        outcome = dataclasses.replace(outcome, worker=f"{socket.gethostname()}:{os.getpid()}")
        return {"outcome": json.dumps(dataclasses.asdict(outcome))}


def attempts_path(output: Path) -> Path:
    """The file that counts the workers that started on one video's output (beside a
    record, inside a highlights folder)."""
    if output.suffix == ".json":
        return output.with_name(f".{output.name}.attempts")
    return output / ".attempts"


def _count_attempt(marker: Path) -> int:
    """Add one to a video's attempts and return the count (1 for the first); the marker is
    never read or written through a link."""
    try:
        tries = int((read_own(marker, 32) or b"0").decode("ascii")) + 1
    except (OSError, ChroniconError, ValueError):
        tries = 1
    with contextlib.suppress(OSError, ChroniconError):
        marker.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(marker, str(tries))
    return tries


def run(
    job: Job, items: list[tuple[Path, Path]], place: Placement, fresh: bool
) -> Iterator[Outcome]:
    """Run `job` on each (video, output) pair across the pool; yield outcomes as videos
    finish, in no particular order."""
    import logging

    import ray
    import ray.data

    logging.getLogger("ray.data").setLevel(logging.ERROR)
    context = ray.data.DataContext.get_current()
    context.enable_progress_bars = False
    context.enable_operator_progress_bars = False
    context.print_on_execution_start = False
    rows = [{"video": str(video), "output": str(output)} for video, output in items]
    pool = ray.data.ActorPoolStrategy(size=place.workers, max_tasks_in_flight_per_actor=1)
    dataset = ray.data.from_items(rows, override_num_blocks=len(rows)).map(
        _Worker,
        fn_constructor_kwargs={"job": job, "fresh": fresh},
        compute=pool,
        num_cpus=place.cpus,
        num_gpus=place.gpus or None,
    )
    try:
        for row in dataset.iter_rows():
            yield Outcome(**json.loads(row["outcome"]))
    except ray.exceptions.RayError as exc:
        raise ChroniconError(
            f"the Ray workers failed: {str(exc).splitlines()[0]}",
            hint="a rerun skips the videos already done",
        ) from exc
