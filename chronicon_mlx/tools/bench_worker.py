"""Worker process for one benchmark trial: python -m chronicon_mlx.tools.bench_worker JOB."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any, cast

from ..files import atomic_write_text
from .bench import BENCH_PROMPT, BenchConfig


class _Clock:
    """A reporter that notes when the request reaches the backend (its "prefill" stage
    starts: frames are preprocessed and encoded from there)."""

    def __init__(self) -> None:
        self.asked_at = 0.0

    def stage_started(self, stage: str, total: int | None = None) -> None:
        if stage == "prefill" and not self.asked_at:
            self.asked_at = time.time()

    def stage_advanced(self, stage: str, advance: int = 1, text: str | None = None) -> None:
        """Ignore."""

    def stage_finished(self, stage: str, seconds: float) -> None:
        """Ignore."""

    def note(self, message: str) -> None:
        """Ignore."""


def worker(job: dict[str, Any]) -> dict[str, Any]:
    """Inside the worker process: one full analysis with end-of-sequence ignored.

    `end_to_end` runs from the process's launch (the driver's clock, `launched_at`) to the
    answer; `setup` to the first frame encoded: imports, load, frames decoded and
    preprocessed, and one frame's share of the vision stage."""
    from ..analysis.analyze import analyze_video
    from ..analysis.params import GenerationConfig, SamplingConfig
    from ..analysis.session import ModelSession
    from ..analysis.spec import SessionSpec
    from ..backends.base import Tuning
    from ..options.choices import BackendName, Device, Dtype, Quantize

    config = BenchConfig(**job["config"])
    launched = float(job.get("launched_at") or time.time())
    clock = _Clock()
    spec = SessionSpec(
        model=job["model"],
        backend=cast(BackendName, config.backend),
        device=cast(Device, config.device),
        dtype=cast(Dtype, config.dtype),
        quantize=cast(Quantize, config.quantize),
        allow_download=False,
        tuning=Tuning(blas=config.blas, int8=config.int8),
    )
    session = ModelSession(spec, reporter=clock)
    result = analyze_video(
        session,
        job["video"],
        BENCH_PROMPT,
        sampling=SamplingConfig(frames=int(job["frames"])),
        generation=GenerationConfig(max_tokens=int(job["tokens"]), ignore_eos=True),
    )
    answered = time.time()
    stages = dict(result.stages)
    stages["end_to_end"] = answered - launched
    frames = max(1, result.usage.encoded_frames)
    first_frame = stages.get("preprocess", 0.0) + stages.get("vision", 0.0) / frames
    stages["setup"] = (clock.asked_at or answered) - launched + first_frame
    data: dict[str, Any] = {
        "stages": stages,
        "answered_at": answered,
        "prompt_tokens": result.prompt_tokens,
        "generated_tokens": result.generated_tokens,
        "decode_tps": result.generated_tokens / stages["generate"] if stages["generate"] else 0.0,
        "peak_memory_gb": result.peak_memory_gb,
        "details": {
            **result.backend_details,
            "device": result.device,
            "dtype": result.dtype,
            "random_weights": result.random_weights,
        },
    }
    if job.get("bare_mlx") and config.backend == "mlx":
        data["details"].update(_wrapper_overhead(session, result, job))
    return data


def _wrapper_overhead(session: Any, result: Any, job: dict[str, Any]) -> dict[str, float]:
    """Time our backend.generate and a bare mlx_vlm.generate on identical inputs, twice each,
    alternating, in this warm process."""
    from ..backends import GenerationRequest
    from ..backends.base import Reusable
    from ..media.decode import sample
    from ..media.probe import probe
    from ..model.prompt import build_prompt

    loaded = session.load()
    info = probe(job["video"])
    frames = sample(info, [f.index for f in result.frames], loaded.model.frame_size)
    text = build_prompt(
        loaded.chat_template, BENCH_PROMPT, [f.timestamp_s for f in frames], info.duration_s
    )
    request = GenerationRequest(
        [f.image for f in frames], text, max_tokens=int(job["tokens"]), ignore_eos=True
    )
    ours: list[float] = []
    bare: list[float] = []
    for _ in range(2):
        if isinstance(loaded.backend, Reusable):
            loaded.backend.forget()  # so that each call computes everything, as the bare one
        start = time.perf_counter()
        loaded.backend.generate(request)
        ours.append(time.perf_counter() - start)
        start = time.perf_counter()
        loaded.backend.bare_generate(request)
        bare.append(time.perf_counter() - start)
    return {"ours_generate_s": min(ours), "bare_mlx_vlm_generate_s": min(bare)}


def main() -> None:
    """Run the job given as JSON on the command line; write the result to its output."""
    from . import bench_engine

    job = json.loads(sys.argv[1])
    modes = {"trial": worker, "batch": bench_engine.batch, "drift": bench_engine.drift}
    result = modes[job.get("mode", "trial")](job)
    atomic_write_text(Path(job["output"]), json.dumps(result))


if __name__ == "__main__":
    main()
