"""`chronicon-mlx serve` measured: SmolVLM2-256M's architecture with random weights on the cpu
engine, a server on a free loopback port, driven by the official `openai` client.

    python scripts/bench_serve.py [--load-seconds 120] [--clients 16]

1. Batched decode: 1, 2, 4 and 8 concurrent streams about a cached video, aggregate
   tokens/s (first token to last), every answer compared with its solo run.
2. Token gaps: two streams running while a third request's 8 new frames are encoded; the
   longest gap between their tokens.
3. One request through the server against the same analysis in-process (model loaded in
   both, a video new to both; medians of 3 pairs, alternating which goes first), and a
   follow-up's time to first token against the first's.
4. A load run: concurrent clients mixing new videos, follow-ups, streams, JSON schemas, bad
   requests and clients that disconnect; statuses, correctness, resident memory.

Writes results/bench-serve.json.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import openai

from chronicon_mlx.machine import peak_resident_bytes
from chronicon_mlx.media.synthetic import write_sample_video
from chronicon_mlx.model.random_weights import cached_checkpoint
from chronicon_mlx.tools.bench_engine import QUESTIONS

TOKENS = 64
PAIRS = 3
SCHEMA = {
    "type": "object",
    "properties": {"moving": {"type": "boolean"}},
    "required": ["moving"],
    "additionalProperties": False,
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def resident_bytes(pid: int) -> int:
    """A process's resident memory now."""
    with open(f"/proc/{pid}/status", encoding="ascii") as handle:
        for line in handle:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def messages(video: str, question: str) -> list[dict[str, Any]]:
    return [
        {
            "role": "user",
            "content": [
                {"type": "video_url", "video_url": {"url": video}},
                {"type": "text", "text": question},
            ],
        }
    ]


async def stream_times(
    client: openai.AsyncOpenAI, model: str, video: str, question: str, tokens: int
) -> tuple[str, list[float]]:
    """A streamed answer and the time each piece arrived."""
    stream = await client.chat.completions.create(
        model=model,
        messages=messages(video, question),  # type: ignore[arg-type]
        max_tokens=tokens,
        stream=True,
        extra_body={"frames": 8},
    )
    text, times = "", []
    async for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            text += chunk.choices[0].delta.content
            times.append(time.perf_counter())
    return text, times


async def batched(client: openai.AsyncOpenAI, model: str, video: str) -> list[dict[str, Any]]:
    await stream_times(client, model, video, QUESTIONS[0], 4)  # the video, cached
    solo = [(await stream_times(client, model, video, q, TOKENS))[0] for q in QUESTIONS]
    rows = []
    for size in (1, 2, 4, 8):
        runs = await asyncio.gather(
            *(stream_times(client, model, video, q, TOKENS) for q in QUESTIONS[:size])
        )
        first = min(times[0] for _, times in runs)
        last = max(times[-1] for _, times in runs)
        pieces = sum(len(times) for _, times in runs)
        same = all(text == solo[n] for n, (text, _) in enumerate(runs))
        rows.append(
            {
                "streams": size,
                "pieces": pieces,
                "seconds": last - first,
                "tokens_per_s": size * TOKENS / (last - first),
                "joined_within_s": max(times[0] for _, times in runs) - first,
                "all_running_pieces_per_s": all_running(runs),
                "same_as_solo": same,
            }
        )
    base = rows[0]["tokens_per_s"]
    for row in rows:
        row["of_one"] = row["tokens_per_s"] / base
    return rows


def all_running(runs: list[tuple[str, list[float]]]) -> float:
    """Pieces per second while every stream was running (from the last one's first piece
    to the first one's last): the batch's decode rate without the joins and the ends."""
    start = max(times[0] for _, times in runs)
    end = min(times[-1] for _, times in runs)
    inside = sum(1 for _, times in runs for t in times if start < t <= end)
    return inside / (end - start) if end > start else 0.0


async def gaps(client: openai.AsyncOpenAI, model: str, cached: str, fresh: str) -> dict[str, Any]:
    running = [
        asyncio.ensure_future(stream_times(client, model, cached, q, 400)) for q in QUESTIONS[:2]
    ]
    await asyncio.sleep(1.0)
    started = time.perf_counter()
    _, new_times = await stream_times(client, model, fresh, QUESTIONS[2], 8)
    ended = time.perf_counter()
    results = await asyncio.gather(*running)
    longest = 0.0
    for _, times in results:
        inside = [t for t in times if started <= t <= new_times[0]]
        steps = [b - a for a, b in itertools.pairwise(inside)]
        longest = max([longest, *steps])
    return {
        "new_request_s": ended - started,
        "new_request_first_token_s": new_times[0] - started,
        "longest_gap_s": longest,
    }


async def against_in_process(
    client: openai.AsyncOpenAI, model: str, videos: list[str], folder: Path
) -> dict[str, Any]:
    """One request through the server against the same analysis in-process (model loaded in
    both, each video new to both), alternating which goes first; medians over `videos`."""
    from chronicon_mlx import Analyzer, GenerationConfig, SamplingConfig, SessionSpec, VideoCache

    async def served(video: str) -> float:
        start = time.perf_counter()
        await client.chat.completions.create(
            model=model,
            messages=messages(video, QUESTIONS[0]),  # type: ignore[arg-type]
            max_tokens=TOKENS,
            extra_body={"frames": 8},
        )
        return time.perf_counter() - start

    def in_process(video: str) -> float:
        started = time.perf_counter()
        analyzer.analyze(
            str(folder / "media" / video),
            QUESTIONS[0],
            sampling=SamplingConfig(frames=8),
            generation=GenerationConfig(max_tokens=TOKENS),
        )
        return time.perf_counter() - started

    spec = SessionSpec(model=model_path(), backend="cpu")
    analyzer = Analyzer(spec, video_cache=VideoCache(folder / "in-process-cache", 10**10))
    analyzer.analyze(  # loads the model and its vision tower, as the server has
        str(folder / "media" / "clip-5.mp4"),
        QUESTIONS[0],
        sampling=SamplingConfig(frames=2),
        generation=GenerationConfig(max_tokens=2),
    )
    pairs = []
    for number, video in enumerate(videos):
        if number % 2:
            local = in_process(video)
            pairs.append((await served(video), local))
        else:
            remote = await served(video)
            pairs.append((remote, in_process(video)))
    served_s = statistics.median(remote for remote, _ in pairs)
    local_s = statistics.median(local for _, local in pairs)
    fresh = "clip-4.mp4"
    first_start = time.perf_counter()
    answer, first = await stream_times(client, model, fresh, QUESTIONS[1], 8)
    follow_up = [
        *messages(fresh, QUESTIONS[1]),
        {"role": "assistant", "content": answer},
        {"role": "user", "content": QUESTIONS[2]},
    ]
    follow_start = time.perf_counter()
    stream = await client.chat.completions.create(
        model=model,
        messages=follow_up,  # type: ignore[arg-type]
        max_tokens=8,
        stream=True,
        extra_body={"frames": 8},
    )
    follow = 0.0
    async for chunk in stream:
        if not follow and chunk.choices and chunk.choices[0].delta.content:
            follow = time.perf_counter() - follow_start
    return {
        "pairs": len(pairs),
        "served_s": served_s,
        "in_process_s": local_s,
        "served_of_in_process": served_s / local_s,
        "first_question_first_token_s": first[0] - first_start,
        "follow_up_first_token_s": follow,
        "follow_up_of_first": follow / (first[0] - first_start),
    }


async def load_run(
    client: openai.AsyncOpenAI,
    model: str,
    base: str,
    videos: list[str],
    seconds: float,
    clients: int,
) -> dict[str, Any]:
    import httpx2

    statuses: dict[str, int] = {}
    wrong: list[str] = []
    deadline = time.monotonic() + seconds
    rng = random.Random(0)

    def count(key: str) -> None:
        statuses[key] = statuses.get(key, 0) + 1

    async def one(kind: str) -> None:
        video = rng.choice(videos)
        try:
            if kind == "bad":
                async with httpx2.AsyncClient(timeout=60) as raw:
                    got = await raw.post(
                        f"{base}/v1/chat/completions",
                        json={"messages": messages(video, "?"), "frames": 999},
                        headers={"Authorization": "Bearer x"},
                    )
                count(str(got.status_code))
                if got.status_code != 400 or "error" not in got.json():
                    wrong.append(f"bad request got {got.status_code}")
                return
            if kind == "disconnect":
                async with (
                    httpx2.AsyncClient(timeout=60) as raw,
                    raw.stream(
                        "POST",
                        f"{base}/v1/chat/completions",
                        json={"messages": messages(video, "Tell a story."), "stream": True},
                        headers={"Authorization": "Bearer x"},
                    ) as got,
                ):
                    count(str(got.status_code))
                    async for _ in got.aiter_lines():
                        break
                return
            extra: dict[str, Any] = {"frames": rng.choice([4, 8])}
            if kind == "stream":
                text, _ = await stream_times(client, model, video, rng.choice(QUESTIONS), 32)
                count("200")
                if not text:
                    wrong.append("an empty stream")
                return
            schema = None
            if kind == "json":
                schema = {"type": "json_schema", "json_schema": {"name": "m", "schema": SCHEMA}}
            history = messages(video, rng.choice(QUESTIONS))
            if kind == "follow-up":
                history += [
                    {"role": "assistant", "content": "A ball moves."},
                    {"role": "user", "content": "And then?"},
                ]
            done = await client.chat.completions.create(
                model=model,
                messages=history,  # type: ignore[arg-type]
                max_tokens=32,
                extra_body=extra,
                **({"response_format": schema} if schema else {}),  # type: ignore[arg-type]
            )
            count("200")
            text = done.choices[0].message.content or ""
            if kind == "json" and set(json.loads(text)) != {"moving"}:
                wrong.append(f"a JSON answer that does not fit: {text!r}")
        except openai.RateLimitError as error:
            count("429")  # as clients do: wait as long as Retry-After says
            await asyncio.sleep(float(error.response.headers.get("retry-after", "1")))
        except openai.APIStatusError as error:
            count(str(error.status_code))
            wrong.append(f"{kind}: {error.status_code} {error.message}")
        except (openai.APIConnectionError, httpx2.HTTPError) as error:
            count("connection")
            wrong.append(f"{kind}: {error}")

    async def client_loop() -> None:
        kinds = ["new", "follow-up", "stream", "json", "bad", "disconnect"]
        while time.monotonic() < deadline:
            await one(rng.choice(kinds))

    await asyncio.gather(*(client_loop() for _ in range(clients)))
    return {"statuses": statuses, "wrong": wrong[:20], "wrong_count": len(wrong)}


async def ready(client: openai.AsyncOpenAI, base: str) -> str:
    """Wait (at most 5 minutes) for the server's model; its id."""
    import httpx2

    deadline = time.monotonic() + 300
    async with httpx2.AsyncClient() as raw:
        while time.monotonic() < deadline:
            try:
                if (await raw.get(base + "/health")).status_code == 200:
                    return (await client.models.list()).data[0].id
            except (httpx2.HTTPError, OSError):
                pass
            await asyncio.sleep(0.2)
    raise TimeoutError("the server did not get ready")


def model_path() -> str:
    return str(cached_checkpoint("256m"))


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    folder = Path(tempfile.mkdtemp(prefix="chronicon-bench-serve-"))
    media = folder / "media"
    media.mkdir()
    videos = []
    for number in range(6):
        name = f"clip-{number}.mp4"
        write_sample_video(media / name, seconds=10 + number, fps=24, size=(640, 360))
        videos.append(name)
    compared = []  # new to the server and to the in-process analyzer: one per pair
    for number in range(PAIRS):
        name = f"pair-{number}.mp4"
        write_sample_video(media / name, seconds=12 + number / 4, fps=24, size=(640, 360))
        compared.append(name)
    port = free_port()
    env = {**os.environ, "CHRONICON_VIDEO_CACHE": str(folder / "server-cache")}
    command = [sys.executable, "-m", "chronicon_mlx", "serve", "--port", str(port)]
    command += ["-m", model_path(), "--backend", "cpu", "--media-root", str(media)]
    command += ["--max-batch", "8", "--max-queue", "16", "--jobs", str(folder / "jobs")]
    server = subprocess.Popen(command, env=env, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    client = openai.AsyncOpenAI(base_url=base + "/v1", api_key="x", max_retries=0, timeout=600)
    try:
        model = await ready(client, base)
        report: dict[str, Any] = {"date": time.strftime("%Y-%m-%d"), "model": "256m random"}
        report["batched"] = await batched(client, model, videos[0])
        report["gaps"] = await gaps(client, model, videos[0], videos[1])
        report["in_process"] = await against_in_process(client, model, compared, folder)
        await asyncio.sleep(2.0)
        warm = resident_bytes(server.pid)
        report["load"] = await load_run(
            client, model, base, videos, args.load_seconds, args.clients
        )
        await asyncio.sleep(2.0)  # the server goes idle
        after = resident_bytes(server.pid)
        report["load"].update(
            seconds=args.load_seconds,
            clients=args.clients,
            resident_after_warm_up_gb=warm / 1e9,
            resident_after_load_gb=after / 1e9,
            resident_growth=after / warm - 1,
            server_peak_gb=peak_resident_bytes(server.pid) / 1e9,
        )
        return report
    finally:
        server.terminate()
        server.wait(timeout=60)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--load-seconds", type=float, default=120.0)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--output", type=Path, default=Path("results/bench-serve.json"))
    args = parser.parse_args()
    report = asyncio.run(main_async(args))
    text = json.dumps(report, indent=2)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
