"""``POST /v1/chat/completions``: a request read, prepared beside the model, run on the
model thread, and answered whole or streamed as server-sent events. A client that goes away
is cancelled at the model's next step."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from starlette.concurrency import run_in_threadpool

from ..backends import GenerationOutput
from . import completions
from .bodies import read_body
from .errors import ApiError, no_model
from .prepare import Prepared, api_error
from .protocol import ChatCall, read_chat
from .scheduler import Cancelled, Job, QueueFull
from .state import ServerState
from .textstream import TextStream

DISCONNECT_POLL_S = 0.25


def add_chat_route(app: FastAPI, state: ServerState) -> None:
    """The chat completions route."""

    @app.post("/v1/chat/completions")
    async def chat(request: Request) -> Response:
        body = await read_body(request, state.settings.max_body_mb * 2**20)
        call = read_chat(body)
        if call.model and call.model not in state.names():
            raise no_model(call.model)
        scheduler, preparer, _ = state.require_ready()
        checked = await run_in_threadpool(preparer.check, call)
        state.admit()
        uploads = state.media.uploads()
        released = False
        try:
            loop = asyncio.get_running_loop()
            with scheduler.announced():
                prepared = await loop.run_in_executor(
                    state.preparing, preparer.chat, checked, call, uploads
                )
                answer = Answer(state, prepared, call)
                answer.start()
            if call.stream:
                released = True
                return StreamingResponse(
                    _streamed(state, answer, call.include_usage, uploads, request),
                    media_type="text/event-stream",
                    headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
                )
            result = await _watched(answer, request, state.model_id)
            out = answer.output
            if out is not None:
                request.state.tokens = (out.prompt_tokens, out.reused_tokens, out.generated_tokens)
            return JSONResponse(result)
        except ApiError:
            raise
        except Exception as error:
            raise api_error(error) from error
        finally:
            if not released:
                uploads.remove()
                state.release()


async def _streamed(
    state: ServerState, answer: Answer, include_usage: bool, uploads: Any, request: Request
) -> Any:
    try:
        async for event in answer_streamed(answer, state.model_id, include_usage):
            yield event
        out = answer.output
        if out is not None:
            request.state.tokens = (out.prompt_tokens, out.reused_tokens, out.generated_tokens)
    finally:
        await run_in_threadpool(uploads.remove)
        state.release()


async def _watched(answer: Answer, request: Request, model: str) -> dict[str, Any]:
    """The whole answer, cancelled if the client goes away first."""
    task = asyncio.ensure_future(answer_whole(answer, model))
    try:
        while True:
            done, _ = await asyncio.wait({task}, timeout=DISCONNECT_POLL_S)
            if done:
                return task.result()
            if await request.is_disconnected():
                answer.cancel()
                task.cancel()
                raise ApiError(499, "the client went away", "server_error")
    finally:
        if not task.done():
            task.cancel()


class Answer:
    """One request's way through the model thread, seen from the event loop."""

    def __init__(self, state: ServerState, prepared: Prepared, call: ChatCall) -> None:
        self.state = state
        self.prepared = prepared
        self.text = TextStream(call.stop)
        self.loop = asyncio.get_running_loop()
        self.events: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
        self.streamed = call.stream
        # A whole answer needs its pieces only to stop at a stop string: without one, the
        # model thread neither decodes its text token by token nor wakes the event loop.
        watch = call.stream or any(call.stop)
        self.job = Job(prepared.request, self._piece if watch else None, self._done)
        self.output: GenerationOutput | None = None

    def _piece(self, piece: str) -> None:  # on the model thread
        delta = self.text.add(piece)
        if self.text.stopped:
            self.job.stop()
        if delta and self.streamed:
            self.loop.call_soon_threadsafe(self.events.put_nowait, ("piece", delta))

    def _done(self, output: GenerationOutput | None, error: BaseException | None) -> None:
        self.loop.call_soon_threadsafe(self.events.put_nowait, ("done", (output, error)))

    def start(self) -> None:
        """Queue it on the model thread (429 when the queue is full)."""
        scheduler, _, _ = self.state.require_ready()
        try:
            scheduler.submit(self.job)
        except QueueFull as error:
            raise ApiError(
                429,
                f"the server is busy ({error}); retry shortly",
                "rate_limit_error",
                code="queue_full",
                headers={"Retry-After": "1"},
            ) from error
        except Cancelled as error:
            raise ApiError(503, "the server is stopping", "server_error") from error

    def cancel(self) -> None:
        """The client went away."""
        self.job.cancel()
        if self.state.scheduler is not None:
            self.state.scheduler.wake()

    async def pieces(self) -> AsyncIterator[str]:
        """The answer's text as it comes; raises the request's failure."""
        while True:
            kind, value = await self.events.get()
            if kind == "piece":
                yield value
                continue
            output, error = value
            if error is not None:
                raise error
            assert output is not None
            self.output = output
            final = None if self.text.stopped else output.text
            rest = self.text.finish(final)
            if rest:
                yield rest
            return

    def finished(self) -> None:
        """Count its tokens, and keep its video in the video cache (beside the model)."""
        if self.output is not None:
            out = self.output
            self.state.metrics.add_tokens(
                out.prompt_tokens, out.reused_tokens, out.generated_tokens
            )
            self.state.preparing.submit(self.prepared.keep)


async def answer_whole(answer: Answer, model: str) -> dict[str, Any]:
    """The whole completion."""
    async for _ in answer.pieces():
        pass
    assert answer.output is not None
    answer.finished()
    ident = completions.completion_id()
    text = answer.text.answer if answer.text.stopped else answer.output.text
    return completions.completion(ident, model, text, answer.output, answer.text.stopped)


async def answer_streamed(answer: Answer, model: str, include_usage: bool) -> AsyncIterator[str]:
    """The completion as server-sent events; an error after the start is an ``error``
    event, then the stream ends."""
    ident = completions.completion_id()
    done = False
    try:
        frames = answer.prepared.frames()
        start = {"role": "assistant", "content": ""}
        # The first chunk names the frames the answer sees (the web app's strip).
        yield completions.chunk(ident, model, start, extension={"frames": frames})
        try:
            async for piece in answer.pieces():
                yield completions.chunk(ident, model, {"content": piece})
        except Exception as error:
            failure = error if isinstance(error, ApiError) else api_error(error)
            if isinstance(error, Cancelled):
                failure = ApiError(503, f"the request ended: {error}", "server_error")
            yield completions.event(failure.body())
            done = True
            return
        output = answer.output
        assert output is not None
        answer.finished()
        reason = completions.finish_reason(output, answer.text.stopped)
        yield completions.chunk(ident, model, {}, reason)
        if include_usage:
            yield completions.chunk(ident, model, None, usage_=completions.usage(output))
        yield completions.DONE
        done = True
    finally:
        if not done:
            answer.cancel()
