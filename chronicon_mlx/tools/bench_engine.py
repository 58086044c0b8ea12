"""The cpu engine's own measurements, run inside a bench worker process: batched decode
(aggregate tokens/s for several sequences at once, each answer checked against its solo
run) and 8-bit drift (how often int8 weights pick float32's token, and the largest logit
difference, over a fixed set of prompts)."""

from __future__ import annotations

import time
from typing import Any

QUESTIONS = (
    "Describe what happens in this video.",
    "What moves, and in which direction?",
    "Which colours do you see?",
    "Where does the scene take place?",
    "What is the main object?",
    "How fast does it move?",
    "What happens at the end?",
    "Is anyone on screen?",
)
BATCHES = (1, 2, 4, 8)


def _video_requests(job: dict[str, Any], session: Any) -> tuple[Any, list[Any]]:
    """The loaded model and one request per question about the bench clip's frames, each
    reusing the video's prefix (frames encoded once)."""
    from ..analysis.conversation import VideoChat
    from ..analysis.params import GenerationConfig, SamplingConfig
    from ..backends import GenerationRequest
    from ..model.prompt import video_prefix

    generation = GenerationConfig(max_tokens=int(job["tokens"]), ignore_eos=True)
    chat = VideoChat.open(
        session, job["video"], None, SamplingConfig(frames=int(job["frames"])), generation
    )
    chat.history = False
    video = chat.video
    prefix = video_prefix(chat.loaded.chat_template, video.times, video.info.duration_s)
    requests = [
        GenerationRequest(
            video.images,
            chat.prompt(question),
            max_tokens=generation.max_tokens,
            ignore_eos=True,
            prefix=prefix,
            frame_keys=video.keys,
        )
        for question in QUESTIONS
    ]
    return chat.loaded, requests


def batch(job: dict[str, Any]) -> dict[str, Any]:
    """Aggregate decode tokens/s with 1, 2, 4 and 8 sequences at once on the cpu engine;
    whether every answer in a batch equals its solo answer."""
    from ..analysis.session import ModelSession
    from ..analysis.spec import SessionSpec

    quantize = job["config"].get("quantize", "none")
    spec = SessionSpec(job["model"], backend="cpu", quantize=quantize, allow_download=False)
    loaded, requests = _video_requests(job, ModelSession(spec))
    backend = loaded.backend
    backend.generate(requests[0])  # the frames' features and the video's prefix, kept
    solo = [backend.generate(request).token_ids for request in requests]
    rows = []
    for size in BATCHES:
        started = time.perf_counter()
        outputs = backend.generate_many(requests[:size])
        wall = time.perf_counter() - started
        decode = max(out.stages["generate"] for out in outputs)
        # Each answer's first token comes from its prefill; the steps make the rest.
        stepped = sum(out.generated_tokens - 1 for out in outputs)
        same = all(out.token_ids == solo[n] for n, out in enumerate(outputs))
        rows.append(
            {
                "sequences": size,
                "tokens": sum(out.generated_tokens for out in outputs),
                "decode_s": decode,
                "decode_tps": stepped / decode if decode > 0 else 0.0,
                "wall_s": wall,
                "same_as_solo": same,
            }
        )
    return {"weights": "int8" if quantize == "int8" else "float32", "rows": rows}


def drift(job: dict[str, Any]) -> dict[str, Any]:
    """Over the fixed questions about the bench clip, teacher-forced along float32's greedy
    answer, for each 8-bit kernel this machine runs (the default first): the share of
    positions where the int8 engine (its own frame features, from its bfloat16 tower)
    chooses float32's token, and the largest difference of any logit. The default kernel's
    figures are also the result's own."""
    from ..analysis.session import ModelSession
    from ..analysis.spec import SessionSpec
    from ..engine import Engine, EngineTuning
    from ..engine.dynamic import available

    spec = SessionSpec(job["model"], backend="cpu", allow_download=False)
    loaded, requests = _video_requests(job, ModelSession(spec))
    full = loaded.backend
    requests = requests[: int(job.get("prompts", 4))]
    answers = [full.generate(request).token_ids for request in requests]
    kernels = ["auto"] + (["fbgemm"] if available() else [])
    measured: dict[str, dict[str, Any]] = {}
    for kernel in kernels:
        tuning = EngineTuning(int8=kernel)  # type: ignore[arg-type]
        eight = Engine(full.engine.folder, loaded.model.config, tuning, int8=True)
        name = eight.record()["int8"]
        if name not in measured:
            measured[name] = {"kernel": name, **_drift(full, eight, requests, answers)}
    chosen = list(measured.values())
    return {**chosen[0], "kernels": chosen}


def _drift(full: Any, eight: Any, requests: list[Any], answers: list[list[int]]) -> dict[str, Any]:
    """Top-1 agreement and the largest logit difference of `eight` against the float32
    backend `full`, along float32's answers."""
    pixels = full.engine.preprocess(requests[0].frames)
    features = {"full": full.engine.encode(pixels), "int8": eight.encode(pixels)}
    agree = total = 0
    worst = 0.0
    for request, answer in zip(requests, answers, strict=True):
        ids = full.prompt_ids(request)
        sequences = {"full": full.engine.new_sequence(), "int8": eight.new_sequence()}
        logits = {
            name: engine.prefill(sequences[name], ids, features[name])
            for name, engine in (("full", full.engine), ("int8", eight))
        }
        for token in answer:
            agree += int(logits["full"].argmax()) == int(logits["int8"].argmax())
            total += 1
            worst = max(worst, float((logits["full"] - logits["int8"]).abs().max()))
            logits = {
                name: engine.decode([sequences[name]], [token])[0]
                for name, engine in (("full", full.engine), ("int8", eight))
            }
    return {
        "positions": total,
        "top1_agreement": agree / max(total, 1),
        "max_logit_difference": worst,
    }
