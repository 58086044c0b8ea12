"""`chronicon-mlx serve` as clients see it: the real server on a free loopback port, driven by
the official `openai` client and by raw HTTP for the error cases."""

from __future__ import annotations

import base64
import concurrent.futures
import http.client
import json
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest
from serving import Server, served

pytestmark = [pytest.mark.torch, pytest.mark.slow]
KEY = "test-key-0123"
QUESTIONS = ("What moves?", "Which colours do you see?", "Where is it?", "What happens last?")


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A media root with a clip, a file that is not a video, and a link out of it."""
    from chronicon_mlx.media.synthetic import write_sample_video

    root = tmp_path_factory.mktemp("media")
    write_sample_video(root / "clip.mp4", seconds=3, fps=10, size=(160, 96))
    write_sample_video(root / "other.mp4", seconds=2, fps=10, size=(160, 96))
    write_sample_video(root / "fresh.mp4", seconds=4, fps=10, size=(176, 96))
    (root / "broken.mp4").write_bytes(b"not a video at all" * 100)
    outside = tmp_path_factory.mktemp("outside")
    write_sample_video(outside / "secret.mp4", seconds=1, fps=10, size=(64, 48))
    (root / "link.mp4").symlink_to(outside / "secret.mp4")
    return root


@pytest.fixture(scope="module")
def server(
    tiny_model: Path, media: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    jobs = tmp_path_factory.mktemp("jobs")
    cache = tmp_path_factory.mktemp("serve-video-cache")
    args = ["-m", str(tiny_model), "--media-root", str(media), "--api-key", KEY]
    args += ["--max-batch", "4", "--max-queue", "2", "--max-upload-mb", "1", "--jobs", str(jobs)]
    with served(args, env={"CHRONICON_VIDEO_CACHE": str(cache)}) as running:
        yield running


@pytest.fixture(scope="module")
def client(server: Server) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.url + "/v1", api_key=KEY, max_retries=0, timeout=60)


def _video(name: str = "clip.mp4") -> dict[str, Any]:
    return {"type": "video_url", "video_url": {"url": name}}


def _ask(question: str, video: str = "clip.mp4") -> list[dict[str, Any]]:
    return [{"role": "user", "content": [_video(video), {"type": "text", "text": question}]}]


def _auth() -> dict[str, str]:
    return {"Authorization": f"Bearer {KEY}"}


def test_an_answer_with_usage_then_a_follow_up_reusing_the_video(
    client: openai.OpenAI, server: Server
) -> None:
    models = client.models.list()
    [model] = [m.id for m in models.data]
    first = client.chat.completions.create(
        model=model,
        messages=_ask("What moves?", "fresh.mp4"),
        max_tokens=12,
        extra_body={"frames": 4},
    )
    assert first.object == "chat.completion" and first.model == model
    assert first.id.startswith("chatcmpl-") and first.choices[0].message.role == "assistant"
    assert first.choices[0].finish_reason in ("stop", "length")
    usage = first.usage
    assert usage is not None and usage.prompt_tokens > 4 * 4
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens
    # a video new to the server: nothing of its prompt was read from a cache
    assert usage.prompt_tokens_details is not None
    assert usage.prompt_tokens_details.cached_tokens == 0
    answer = first.choices[0].message.content or ""
    follow_up = [
        *_ask("What moves?", "fresh.mp4"),
        {"role": "assistant", "content": answer},
        {"role": "user", "content": "And then?"},
    ]
    second = client.chat.completions.create(
        model=model, messages=follow_up, max_tokens=8, extra_body={"frames": 4}
    )
    assert second.usage is not None and second.usage.prompt_tokens > usage.prompt_tokens
    cached = second.usage.prompt_tokens_details
    assert cached is not None and cached.cached_tokens and cached.cached_tokens > 4 * 4
    again = client.chat.completions.create(
        model=model,
        messages=_ask("What moves?", "fresh.mp4"),
        max_tokens=12,
        extra_body={"frames": 4},
    )
    assert again.choices[0].message.content == answer  # greedy: the same answer
    assert again.usage is not None and again.usage.prompt_tokens_details is not None
    assert again.usage.prompt_tokens_details.cached_tokens == cached.cached_tokens


def test_a_streamed_answer_adds_up_to_the_whole_one(client: openai.OpenAI) -> None:
    whole = client.chat.completions.create(
        model=client.models.list().data[0].id,
        messages=_ask("Which colours do you see?"),
        max_tokens=16,
    )
    stream = client.chat.completions.create(
        model=whole.model,
        messages=_ask("Which colours do you see?"),
        max_tokens=16,
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    assert chunks[0].choices[0].delta.role == "assistant"
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == whole.choices[0].message.content
    finishing = [c for c in chunks if c.choices and c.choices[0].finish_reason]
    assert [c.choices[0].finish_reason for c in finishing] == [whole.choices[0].finish_reason]
    assert chunks[-1].choices == [] and chunks[-1].usage is not None
    assert chunks[-1].usage.completion_tokens == whole.usage.completion_tokens  # type: ignore[union-attr]


def test_a_json_schema_answer_is_valid_json(client: openai.OpenAI) -> None:
    schema = {
        "type": "object",
        "properties": {"moving": {"type": "boolean"}},
        "required": ["moving"],
        "additionalProperties": False,
    }
    done = client.chat.completions.create(
        model=client.models.list().data[0].id,
        messages=_ask("Does anything move? Answer in JSON."),
        max_tokens=24,
        response_format={
            "type": "json_schema",
            "json_schema": {"name": "moving", "schema": schema},
        },
    )
    data = json.loads(done.choices[0].message.content or "")
    assert set(data) == {"moving"} and isinstance(data["moving"], bool)


def test_a_stop_string_ends_the_answer_before_it(client: openai.OpenAI) -> None:
    model = client.models.list().data[0].id
    free = client.chat.completions.create(model=model, messages=_ask("Where is it?"), max_tokens=24)
    text = free.choices[0].message.content or ""
    assert len(text) > 4
    stop = text[len(text) // 2 : len(text) // 2 + 2]
    cut = client.chat.completions.create(
        model=model, messages=_ask("Where is it?"), max_tokens=24, stop=[stop]
    )
    assert cut.choices[0].finish_reason == "stop"
    assert cut.choices[0].message.content == text[: text.index(stop)].strip()


def test_concurrent_requests_are_batched_and_answer_as_alone(
    client: openai.OpenAI, server: Server
) -> None:
    model = client.models.list().data[0].id

    def ask(question: str) -> str:
        done = client.chat.completions.create(
            model=model, messages=_ask(question, "other.mp4"), max_tokens=40
        )
        return done.choices[0].message.content or ""

    alone = [ask(q) for q in QUESTIONS]
    _, before, _ = server.request("GET", "/metrics", headers=_auth())
    with concurrent.futures.ThreadPoolExecutor(len(QUESTIONS)) as pool:
        together = list(pool.map(ask, QUESTIONS))
    assert together == alone
    _, after, _ = server.request("GET", "/metrics", headers=_auth())
    assert _batched_steps(after) > _batched_steps(before)


def _batched_steps(metrics: str) -> int:
    total = 0
    for line in metrics.splitlines():
        if line.startswith("chronicon_decode_steps_total{batch="):
            size = int(line.split('"')[1])
            total += int(float(line.split()[-1])) if size > 1 else 0
    return total


def test_a_client_that_goes_away_is_cancelled(server: Server) -> None:
    """The same request runs to its 1000-token budget when read to the end; a client that
    leaves after the first chunk stops it at the next step, and its sequence is freed."""
    body: dict[str, Any] = {"messages": _ask("Tell a long story."), "max_tokens": 1000}
    status, whole, _ = server.request("POST", "/v1/chat/completions", body, _auth())
    assert status == 200 and whole["usage"]["completion_tokens"] == 1000
    _, before, _ = server.request("GET", "/metrics", headers=_auth())
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    headers = {"Content-Type": "application/json", **_auth()}
    connection.request(
        "POST", "/v1/chat/completions", json.dumps({**body, "stream": True}), headers
    )
    response = connection.getresponse()
    assert response.status == 200 and response.readline().startswith(b"data: ")
    connection.close()
    deadline = time.monotonic() + 20
    health: dict[str, Any] = {}
    while time.monotonic() < deadline:
        _, health, _ = server.request("GET", "/health")
        # The job may still wait in the queue while the model thread hands memory back
        # after the first request: it is gone only when neither holds it.
        if health["running"] == 0 and health["queue"] == 0:
            break
        time.sleep(0.05)
    assert health["running"] == 0 and health["queue"] == 0
    _, after, _ = server.request("GET", "/metrics", headers=_auth())
    assert _steps(after) - _steps(before) < 900


def _steps(metrics: str) -> int:
    return sum(
        int(float(line.split()[-1]))
        for line in metrics.splitlines()
        if line.startswith("chronicon_decode_steps_total{")
    )


@pytest.mark.parametrize(
    ("body", "status", "code", "param"),
    [
        ({"messages": _ask("x"), "frame": 3}, 400, "unknown_parameter", "frame"),
        ({"messages": _ask("x"), "frames": 500}, 400, None, "frames"),
        ({"messages": _ask("x"), "n": 2}, 400, None, "n"),
        ({"messages": []}, 400, None, "messages"),
        ({"messages": _ask("x"), "model": "gpt-4o"}, 404, "model_not_found", "model"),
        ({"messages": _ask("x", "broken.mp4")}, 422, "unreadable_media", None),
        ({"messages": _ask("x", "/etc/passwd")}, 400, "path_not_allowed", None),
        ({"messages": _ask("x", "link.mp4")}, 400, "path_not_allowed", None),
        ({"messages": _ask("x", "../outside/secret.mp4")}, 400, "path_not_allowed", None),
        ({"messages": _ask("x", "https://example.com/a.mp4")}, 400, "remote_media_refused", None),
    ],
)
def test_bad_requests_get_openai_error_objects(
    server: Server, body: dict[str, Any], status: int, code: str | None, param: str | None
) -> None:
    got, answer, _ = server.request("POST", "/v1/chat/completions", body, _auth())
    assert got == status, answer
    error = answer["error"]
    assert set(error) == {"message", "type", "param", "code"} and error["message"]
    if code is not None:
        assert error["code"] == code
    if param is not None:
        assert error["param"] == param


def test_keys_uploads_and_sizes(server: Server, media: Path) -> None:
    status, body, _ = server.request("GET", "/v1/models")
    assert status == 401 and body["error"]["code"] == "invalid_api_key"
    wrong = {"Authorization": "Bearer nope"}
    assert server.request("GET", "/v1/models", headers=wrong)[0] == 401
    assert server.request("GET", "/health")[0] == 200

    clip = base64.b64encode((media / "clip.mp4").read_bytes()).decode()
    upload = {"type": "video_url", "video_url": {"url": f"data:video/mp4;base64,{clip}"}}
    body = {"messages": [{"role": "user", "content": [upload, "?"]}]}
    body["messages"][0]["content"][1] = {"type": "text", "text": "What moves?"}
    body["max_tokens"] = 4
    status, answer, _ = server.request("POST", "/v1/chat/completions", body, _auth())
    assert status == 200 and answer["usage"]["completion_tokens"] >= 1
    big = base64.b64encode(b"\0" * (2 * 2**20)).decode()
    upload["video_url"]["url"] = f"data:video/mp4;base64,{big}"
    status, answer, _ = server.request("POST", "/v1/chat/completions", body, _auth())
    assert status == 413 and answer["error"]["code"] == "upload_too_large"


def test_a_full_queue_answers_429_with_retry_after(server: Server) -> None:
    def ask(number: int) -> tuple[int, dict[str, str]]:
        body = {"messages": _ask(f"Question {number}?"), "max_tokens": 300}
        status, _, headers = server.request("POST", "/v1/chat/completions", body, _auth())
        return status, headers

    with concurrent.futures.ThreadPoolExecutor(12) as pool:
        results = list(pool.map(ask, range(12)))
    statuses = [status for status, _ in results]
    assert set(statuses) <= {200, 429} and 429 in statuses and 200 in statuses
    assert all(h.get("retry-after") for s, h in results if s == 429)


def test_a_highlights_job_with_its_events(server: Server) -> None:
    body = {"video": "clip.mp4", "profile": "general", "window": 1, "overlap": 0}
    body["frames_per_window"] = 2
    status, job, _ = server.request("POST", "/v1/highlights", body, _auth())
    assert status == 202 and job["status"] in ("queued", "running")
    ident = job["id"]
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        _, job, _ = server.request("GET", f"/v1/highlights/{ident}", headers=_auth())
        if job["status"] in ("done", "failed"):
            break
        time.sleep(0.2)
    assert job["status"] == "done", job
    result = job["result"]
    assert len(result["windows"]) == job["progress"]["windows_total"] == 3
    status, events, _ = server.request("GET", f"/v1/highlights/{ident}/events", headers=_auth())
    lines = [line for line in events.splitlines() if line.startswith("data: ")]
    payloads = [json.loads(line[6:]) for line in lines[:-1]]
    assert [p["type"] for p in payloads] == ["window"] * 3 + ["done"]
    assert lines[-1] == "data: [DONE]"
    status, missing, _ = server.request("GET", "/v1/highlights/hl-nope", headers=_auth())
    assert status == 404 and missing["error"]["code"] == "job_not_found"


def test_sigterm_stops_cleanly_and_ends_running_streams(tiny_model: Path) -> None:
    """SIGTERM: no new requests; a stream still running after the grace period ends with
    an error event; the server exits 0 without a traceback."""
    running = Server(["-m", str(tiny_model), "--max-tokens", "8000"])
    running.wait_ready()
    body = {"messages": [{"role": "user", "content": "Tell a long story."}]}
    body.update(max_tokens=8000, stream=True)
    connection = http.client.HTTPConnection("127.0.0.1", running.port, timeout=60)
    connection.request(
        "POST", "/v1/chat/completions", json.dumps(body), {"Content-Type": "application/json"}
    )
    response = connection.getresponse()
    assert response.readline().startswith(b"data: ")
    started = time.monotonic()
    running.process.send_signal(signal.SIGTERM)
    lines = [line.decode() for line in response.read().splitlines() if line.startswith(b"data: ")]
    code, err = running.stop(signal.SIGTERM)
    assert time.monotonic() - started < 20
    assert json.loads(lines[-1][6:])["error"]["message"].endswith("the server is stopping")
    assert code == 0, err
    assert "Traceback" not in err and "listening on http://127.0.0.1:" in err


def test_images_fifos_and_uploads(server: Server, media: Path, tmp_path: Path) -> None:
    """Images come as data URLs or files under a root; a FIFO under a root is refused; an
    upload leaves nothing behind."""
    import io
    import os

    import numpy as np
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(np.full((40, 60, 3), 200, np.uint8)).save(buffer, "PNG")
    url = "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()
    content = [{"type": "image_url", "image_url": {"url": url}}] * 2
    content.append({"type": "text", "text": "What is in these pictures?"})
    body = {"messages": [{"role": "user", "content": content}], "max_tokens": 4}
    status, answer, _ = server.request("POST", "/v1/chat/completions", body, _auth())
    assert status == 200 and answer["usage"]["prompt_tokens"] > 2 * 4

    fifo = media / "pipe.mp4"
    if not fifo.exists():
        os.mkfifo(fifo)
    status, answer, _ = server.request(
        "POST", "/v1/chat/completions", {"messages": _ask("x", "pipe.mp4")}, _auth()
    )
    assert status == 400 and answer["error"]["code"] == "path_not_allowed"


def test_an_upload_is_removed_after_its_request(tiny_model: Path, tmp_path: Path) -> None:
    from chronicon_mlx.media.synthetic import write_sample_video

    temp = tmp_path / "tmp"
    temp.mkdir()
    clip = write_sample_video(tmp_path / "up.mp4", seconds=1, fps=10, size=(64, 48))
    running = Server(["-m", str(tiny_model)], env={"TMPDIR": str(temp)})
    try:
        running.wait_ready()
        data = base64.b64encode(clip.read_bytes()).decode()
        upload = {"type": "video_url", "video_url": {"url": f"data:video/mp4;base64,{data}"}}
        content = [upload, {"type": "text", "text": "What moves?"}]
        body = {"messages": [{"role": "user", "content": content}], "max_tokens": 3}
        status, _, _ = running.request("POST", "/v1/chat/completions", body)
        assert status == 200
        [folder] = list(temp.glob("chronicon-serve-*"))
        assert folder.stat().st_mode & 0o777 == 0o700
        assert list(folder.iterdir()) == []
    finally:
        running.stop()


def test_a_public_address_needs_a_key(tiny_model: Path) -> None:
    running = Server(["-m", str(tiny_model), "--host", "0.0.0.0"])
    code = running.process.wait(timeout=60)
    err = running.process.stderr.read()  # type: ignore[union-attr]
    assert code == 2
    assert err.splitlines()[0] == "error: refusing to listen on 0.0.0.0 without an API key"


def test_while_the_model_loads_requests_get_503(tmp_path: Path) -> None:
    """Before the model is ready: /health and requests answer 503 (with Retry-After)."""
    import threading

    import uvicorn
    from serving import free_port

    from chronicon_mlx.analysis.spec import SessionSpec
    from chronicon_mlx.serve.app import create_app
    from chronicon_mlx.serve.state import ServerState, ServeSettings

    lines: list[str] = []
    state = ServerState(ServeSettings(spec=SessionSpec("tiny-random")), lines.append)
    port = free_port()
    config = uvicorn.Config(create_app(state), host="127.0.0.1", port=port, log_level="error")
    running = uvicorn.Server(config)
    thread = threading.Thread(target=running.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 20
        while not running.started and time.monotonic() < deadline:
            time.sleep(0.02)
        fake = Server.__new__(Server)
        fake.url = f"http://127.0.0.1:{port}"
        status, health, _ = fake.request("GET", "/health")
        assert status == 503 and health["status"] == "loading"
        status, body, headers = fake.request(
            "POST", "/v1/chat/completions", {"messages": _ask("x")}
        )
        assert status == 503 and body["error"]["code"] == "model_loading"
        assert headers["retry-after"] == "5"
        assert [line.split()[:3] for line in lines] == [
            ["GET", "/health", "503"],
            ["POST", "/v1/chat/completions", "503"],
        ]
    finally:
        running.should_exit = True
        thread.join(timeout=10)
        state.close()


def test_a_job_resumes_after_a_restart(
    tiny_model: Path, tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """A server stopped in the middle of a highlights job resumes it on its next start from
    the checkpoint: the finished windows are not scored again. The result names the model
    as the server was given it (an alias here), as the CLI's records do."""
    from chronicon_mlx.media.synthetic import write_sample_video

    root = tmp_path / "media"
    root.mkdir()
    write_sample_video(root / "long.mp4", seconds=40, fps=5, size=(96, 64))
    jobs = tmp_path / "jobs"
    args = ["-m", "tiny-random", "--media-root", str(root), "--jobs", str(jobs)]
    first = Server(args)
    first.wait_ready()
    body = {"video": "long.mp4", "window": 1, "overlap": 0, "frames_per_window": 2}
    status, job, _ = first.request("POST", "/v1/highlights", body)
    assert status == 202
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        _, job, _ = first.request("GET", f"/v1/highlights/{job['id']}")
        if job["progress"]["windows_done"] >= 3:
            break
        time.sleep(0.02)
    code, err = first.stop(signal.SIGTERM)
    assert code == 0, err
    seen = job["progress"]["windows_done"]
    assert 3 <= seen < 40, "stopped too late to resume"

    second = Server(args)
    try:
        second.wait_ready()
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            _, job, _ = second.request("GET", f"/v1/highlights/{job['id']}")
            if job["status"] in ("done", "failed"):
                break
            time.sleep(0.2)
        assert job["status"] == "done", job
        assert job["result"]["counts"]["resumed"] >= seen
        assert len(job["result"]["windows"]) == 40
        parameters = job["result"]["parameters"]
        assert parameters["model"] == "tiny-random"  # not the checkpoint folder's name
        # Written as the CLI writes them (the library compares passes by their settings).
        assert [parameters[k] for k in ("window_s", "overlap_s")] == [1.0, 0.0]
        assert all(isinstance(parameters[k], float) for k in ("window_s", "overlap_s"))
    finally:
        second.stop()


def test_the_readme_client_example_runs_against_the_server(
    server: Server, capsys: pytest.CaptureFixture[str]
) -> None:
    """The README's `openai` example, pointed at this server, streams an answer."""
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    [example] = [b for b in readme.split("```python\n")[1:] if "from openai" in b]
    code = example.split("```")[0]
    code = code.replace("http://127.0.0.1:8000/v1", server.url + "/v1")
    code = code.replace('"unused-on-loopback"', repr(KEY)).replace("match.mp4", "clip.mp4")
    _, models, _ = server.request("GET", "/v1/models", headers=_auth())
    code = code.replace('"256m"', repr(models["data"][0]["id"]))
    exec(compile(code, "README.md", "exec"), {})
    assert len(capsys.readouterr().out) > 0
