"""`doctor`: what this machine has, and an offline self-test of every available backend.

Each check is a `Check` (pass, warn, fail or info) with a fix for what is wrong; nothing
here prints. Essential checks decide the exit code.
"""

from __future__ import annotations

import platform
import socket
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any, Literal, cast

from .. import machine as host

HUB_HOST = ("huggingface.co", 443)
HUB_TIMEOUT_S = 3.0
PACKAGES = ("mlx", "mlx-vlm", "torch", "transformers", "opencv-python", "av", "llguidance")
SMOLVLM = "smolvlm"
Status = Literal["pass", "warn", "fail", "info"]


@dataclass(frozen=True)
class Check:
    """One line of the report."""

    name: str
    status: Status
    detail: str
    fix: str = ""
    essential: bool = False

    def to_dict(self) -> dict[str, Any]:
        """The check as JSON data."""
        return asdict(self)


def _package(name: str) -> str | None:
    try:
        return version(name)
    except PackageNotFoundError:
        return None


def machine() -> Iterator[Check]:
    """OS, chip, Python and memory."""
    chip = platform.processor() or platform.machine()
    yield Check("os", "info", f"{platform.platform()} ({chip})")
    ok = sys.version_info >= (3, 10)
    yield Check(
        "python",
        "pass" if ok else "fail",
        f"{platform.python_version()} at {sys.executable}",
        "" if ok else "install Python 3.10 or newer",
        essential=True,
    )
    from ..model.memory import available_bytes

    total = host.total_memory_bytes() / 2**30
    free, source = available_bytes("cpu")
    yield Check("memory", "info", f"{total:.1f} GiB RAM, {free / 2**30:.1f} GiB {source}")


def packages() -> Iterator[Check]:
    """Versions of the libraries that matter; the essential ones must be there."""
    for name in PACKAGES:
        found = _package(name)
        essential = name in ("mlx-vlm", "opencv-python", "av")
        if found:
            yield Check(name, "pass", found, essential=essential)
        elif name in ("torch", "transformers"):
            yield Check(
                name,
                "warn",
                "not installed (the transformers backend is off)",
                "pip install 'chronicon-mlx[torch]'",
            )
        else:
            yield Check(name, "fail", "not installed", f"pip install {name}", essential=essential)


def accelerators() -> Iterator[Check]:
    """Metal (MLX), MPS and CUDA (torch), and which BLAS MLX uses on Linux."""
    from ..native import blas

    library = blas.preload()
    try:
        import mlx.core as mx

        metal = bool(mx.metal.is_available())
        cuda = getattr(mx, "cuda", None)
        mlx_cuda = bool(cuda is not None and cuda.is_available())
        yield Check("mlx metal", "info", "available" if metal else "not available")
        yield Check("mlx cuda", "info", "available" if mlx_cuda else "not available")
    except ImportError:
        yield Check("mlx", "fail", "mlx does not import", "pip install mlx (mlx[cpu] on Linux)")
    if sys.platform == "linux":
        fast = not library.startswith("reference")
        yield Check(
            "mlx blas",
            "pass" if fast else "warn",
            library,
            ""
            if fast
            else "pip install opencv-python (it bundles OpenBLAS), or apt install"
            " libopenblas0-pthread",
        )
    if _package("torch"):
        try:
            import torch

            mps = bool(torch.backends.mps.is_available())
            yield Check("torch mps", "info", "available" if mps else "not available")
            cuda_ok = bool(torch.cuda.is_available())
            name = torch.cuda.get_device_name(0) if cuda_ok else "not available"
            yield Check("torch cuda", "info", name)
        except Exception as exc:  # a broken torch install must not stop the report
            yield Check("torch", "warn", f"torch does not import: {exc}", "reinstall torch")


def hub_cache() -> Iterator[Check]:
    """Where the Hugging Face cache is and which SmolVLM2 models are in it."""
    from huggingface_hub import constants, scan_cache_dir

    folder = Path(constants.HF_HUB_CACHE)
    try:
        repos = sorted(
            r.repo_id for r in scan_cache_dir(folder).repos if SMOLVLM in r.repo_id.lower()
        )
    except Exception:
        repos = []
    listed = ", ".join(repos) if repos else "no SmolVLM2 model cached yet"
    yield Check("hf cache", "info", f"{folder}: {listed}")


def hub_reachable(timeout_s: float = HUB_TIMEOUT_S) -> Check:
    """Whether huggingface.co answers within `timeout_s` (never hangs; offline mode skips)."""
    from huggingface_hub import constants

    if constants.HF_HUB_OFFLINE:
        return Check("hub", "info", "HF_HUB_OFFLINE is set: only cached models are used")
    start = time.perf_counter()
    try:
        with socket.create_connection(HUB_HOST, timeout=timeout_s):
            pass
    except OSError as exc:
        return Check(
            "hub",
            "warn",
            f"huggingface.co not reachable ({type(exc).__name__})",
            "models must already be in the cache; connect to download them",
        )
    return Check("hub", "pass", f"huggingface.co reachable ({time.perf_counter() - start:.2f} s)")


def self_tests(folder: Path) -> Iterator[Check]:
    """Decode a generated clip, then analyze it on every installed backend (tiny model)."""
    from ..analysis.analyze import analyze_video
    from ..analysis.params import GenerationConfig, SamplingConfig
    from ..analysis.session import ModelSession
    from ..analysis.spec import SessionSpec
    from ..backends import BACKENDS, missing_modules
    from ..errors import ChroniconError
    from ..media.decode import sample
    from ..media.probe import probe
    from ..media.synthetic import write_sample_video
    from ..model.random_weights import cached_checkpoint
    from ..options.choices import BackendName

    clip = write_sample_video(folder / "doctor.mp4", seconds=2, fps=10, size=(160, 96))
    try:
        frames = sample(probe(clip), [0, 10, 19])
        ok = len(frames) == 3
        detail = f"OpenCV read {len(frames)} of 3 frames of a generated clip"
        fix = "" if ok else "reinstall opencv-python"
        yield Check("decode", "pass" if ok else "fail", detail, fix, essential=True)
    except ChroniconError as exc:
        yield Check(
            "decode", "fail", exc.message, exc.hint or "reinstall opencv-python", essential=True
        )
    model = cached_checkpoint("tiny")
    for name, spec in BACKENDS.items():
        if missing_modules(name):
            yield Check(f"self-test {name}", "warn", "not installed", spec.install)
            continue
        start = time.perf_counter()
        try:
            settings = SessionSpec(
                str(model), backend=cast(BackendName, name), allow_download=False
            )
            session = ModelSession(settings)
            sampling, generation = SamplingConfig(frames=2), GenerationConfig(max_tokens=4)
            result = analyze_video(session, clip, "What moves?", None, sampling, generation)
        except ChroniconError as exc:
            yield Check(
                f"self-test {name}", "fail", exc.message, exc.hint or spec.install, essential=True
            )
            continue
        except Exception as exc:
            yield Check(
                f"self-test {name}",
                "fail",
                f"{type(exc).__name__}: {exc}",
                spec.install,
                essential=True,
            )
            continue
        yield Check(
            f"self-test {name}",
            "pass",
            f"{result.device} {result.dtype}: {result.generated_tokens} tokens from"
            f" {len(result.frames)} frames in {time.perf_counter() - start:.1f} s",
            essential=True,
        )


def run(on_check: Callable[[Check], None] | None = None, self_test: bool = True) -> list[Check]:
    """Every check, in order; `on_check` sees each as soon as it is known."""
    checks: list[Check] = []

    def add(check: Check) -> None:
        checks.append(check)
        if on_check is not None:
            on_check(check)

    for group in (machine(), packages(), accelerators(), hub_cache()):
        for check in group:
            add(check)
    add(hub_reachable())
    if self_test:
        with tempfile.TemporaryDirectory(prefix="chronicon-doctor-") as folder:
            for check in self_tests(Path(folder)):
                add(check)
    return checks


def failed(checks: list[Check]) -> list[Check]:
    """The essential checks that failed."""
    return [c for c in checks if c.essential and c.status == "fail"]
