"""The HTTP routes: chat completions, models, health, metrics and highlights jobs; API keys
checked in constant time; bodies capped; every failure an OpenAI error object; one log
line per request."""

from __future__ import annotations

import hmac
import time
from typing import Any, cast

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse

from .chat import add_chat_route
from .errors import ApiError, no_model
from .jobs_routes import add_job_routes
from .prepare import api_error
from .search import add_search_route
from .state import ServerState
from .webapp import SESSION_COOKIE, Sessions, add_web_routes

OPEN_PATHS = ("/health", "/", "/app/app.js", "/app/app.css", "/app/session", "/favicon.ico")
"""Paths anyone may ask for: health, and the web app's page and files (they hold no data;
every call the page makes sends the key)."""
MEDIA_PATHS = ("/v1/media", "/v1/frame")
"""Paths the browser's player and images load: the key, or the session cookie that
logging in with it set."""


def create_app(state: ServerState) -> FastAPI:
    """The application over a server's state."""
    app = FastAPI(title="Chronicon MLX", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.chronicon = state
    sessions = Sessions()
    _add_guards(app, state, sessions)
    _add_info_routes(app, state)
    add_chat_route(app, state)
    add_job_routes(app, state)
    add_search_route(app, state)
    add_web_routes(app, state, sessions)
    return app


def _add_guards(app: FastAPI, state: ServerState, sessions: Sessions) -> None:
    """Keys, error objects, and one log line per request."""

    @app.middleware("http")
    async def guard(request: Request, call_next: Any) -> Response:
        started = time.perf_counter()
        request.state.tokens = None
        try:
            _authorize(state, request, sessions)
            response: Response = await call_next(request)
        except ApiError as error:
            response = _error(error)
        if response.headers.get("content-type", "").startswith("text/event-stream"):
            stream = cast(StreamingResponse, response)
            stream.body_iterator = _logged_after(
                stream.body_iterator, state, request, response, started
            )
            return response
        _log(state, request, response.status_code, started)
        return response

    @app.exception_handler(ApiError)
    async def on_api_error(request: Request, error: ApiError) -> Response:
        return _error(error)

    @app.exception_handler(Exception)
    async def on_error(request: Request, error: Exception) -> Response:
        return _error(api_error(error))


def _add_info_routes(app: FastAPI, state: ServerState) -> None:
    """Health, metrics and the model list."""

    @app.get("/health")
    async def health() -> Response:
        scheduler = state.scheduler
        body: dict[str, Any] = {"status": state.status, "model": state.model_id}
        if state.loaded is not None and scheduler is not None:
            info = state.loaded.backend.info
            body.update(
                backend=info.name,
                device=info.device,
                batching=scheduler.batched,
                max_batch=scheduler.max_batch,
                queue=scheduler.depth,
                running=scheduler.running,
            )
        if state.failure:
            body["error"] = state.failure
        return JSONResponse(body, status_code=200 if state.status == "ready" else 503)

    @app.get("/metrics")
    async def metrics() -> Response:
        return PlainTextResponse(state.metrics.text(), media_type="text/plain; version=0.0.4")

    @app.get("/v1/models")
    async def models() -> Response:
        entry = {
            "id": state.model_id,
            "object": "model",
            "created": state.started,
            "owned_by": "chronicon-mlx",
        }
        return JSONResponse({"object": "list", "data": [entry]})

    @app.get("/v1/models/{name:path}")
    async def model(name: str) -> Response:
        if name not in state.names():
            raise no_model(name)
        entry = {
            "id": state.model_id,
            "object": "model",
            "created": state.started,
            "owned_by": "chronicon-mlx",
        }
        return JSONResponse(entry)


def _log(state: ServerState, request: Request, status: int, started: float) -> None:
    path = request.url.path
    state.metrics.request("/v1/highlights" if path.startswith("/v1/highlights") else path, status)
    ms = (time.perf_counter() - started) * 1000
    tokens = request.state.tokens
    counted = ""
    if tokens is not None:
        counted = f" prompt={tokens[0]} cached={tokens[1]} completion={tokens[2]}"
    state.log(f"{request.method} {path} {status} {ms:.0f} ms{counted}")


async def _logged_after(
    body: Any, state: ServerState, request: Request, response: Response, started: float
) -> Any:
    """A stream's body, logged once it has been sent (or the client went away)."""
    try:
        async for part in body:
            yield part
    finally:
        _log(state, request, response.status_code, started)


def _authorize(state: ServerState, request: Request, sessions: Sessions) -> None:
    key = state.settings.api_key
    if not key or request.url.path in OPEN_PATHS:
        return
    if request.url.path in MEDIA_PATHS and sessions.valid(request.cookies.get(SESSION_COOKIE)):
        return
    given = request.headers.get("authorization", "")
    scheme, _, token = given.partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(
        token.strip().encode("utf-8", "replace"), key.encode("utf-8")
    ):
        raise ApiError(
            401,
            "invalid API key: send it as 'Authorization: Bearer <key>'",
            "invalid_request_error",
            code="invalid_api_key",
        )


def _error(error: ApiError) -> Response:
    return JSONResponse(error.body(), status_code=error.status, headers=error.headers)
