"""Worker process for one benchmark trial: python -m chronicon_mlx.tools.bench_worker JOB."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any, cast

from ..files import atomic_write_text
from .bench import BENCH_PROMPT, BenchConfig


def worker(job: dict[str, Any]) -> dict[str, Any]:
    """Inside the worker process: one full analysis with end-of-sequence ignored."""
    from ..analysis.analyze import analyze_video
    from ..analysis.params import GenerationConfig, SamplingConfig
    from ..analysis.session import ModelSession
    from ..analysis.spec import SessionSpec
    from ..options.choices import BackendName, Device, Dtype

    config = BenchConfig(**job["config"])
    started = time.perf_counter()
    if config.decode == "generate":
        session, loading = _generate_session(config, job["model"])
    else:
        spec = SessionSpec(
            model=job["model"],
            backend=cast(BackendName, config.backend),
            device=cast(Device, config.device),
            dtype=cast(Dtype, config.dtype),
            allow_download=False,
        )
        session = ModelSession(spec)
        loading = {}
    result = analyze_video(
        session,
        job["video"],
        BENCH_PROMPT,
        sampling=SamplingConfig(frames=int(job["frames"])),
        generation=GenerationConfig(max_tokens=int(job["tokens"]), ignore_eos=True),
    )
    end_to_end = time.perf_counter() - started
    stages = {**result.stages, **loading}
    stages["end_to_end"] = end_to_end
    data: dict[str, Any] = {
        "stages": stages,
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


def _generate_session(config: BenchConfig, model: str) -> tuple[Any, dict[str, float]]:
    """A session on a transformers backend that decodes with model.generate, loaded here
    (with its import and load times) since the session does not load a ready backend."""
    from ..analysis.session import ModelSession
    from ..backends import Candidate, create
    from ..backends.transformers_backend import TransformersBackend
    from ..model.resolver import resolve

    start = time.perf_counter()
    backend = create(Candidate(config.backend, config.device), dtype=config.dtype)
    imported = time.perf_counter()
    if isinstance(backend, TransformersBackend):
        backend.greedy_loop = False
    ref = resolve(model, allow_download=False)
    backend.load(ref)
    loaded = time.perf_counter()
    session = ModelSession.from_backend(backend, str(ref.path))
    return session, {"import": imported - start, "load": loaded - imported}


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
    job = json.loads(sys.argv[1])
    result = worker(job)
    atomic_write_text(Path(job["output"]), json.dumps(result))


if __name__ == "__main__":
    main()
