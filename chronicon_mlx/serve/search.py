"""``GET /v1/search?q=``: the library's moments that match, as `chronicon-mlx search --json`
prints them."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from ..errors import ChroniconError, UsageError
from .errors import ApiError
from .state import ServerState

MAX_LIMIT = 200


def add_search_route(app: FastAPI, state: ServerState) -> None:
    """The search route (empty results while the library holds nothing)."""

    @app.get("/v1/search")
    async def search(request: Request) -> Response:
        asked = request.query_params
        query = asked.get("q", "")
        least = _number(asked.get("min_significance"), "min_significance", 0, 10)
        limit = _number(asked.get("limit"), "limit", 1, MAX_LIMIT)
        hits = await run_in_threadpool(
            _search, state, query, asked.get("video"), least, 20 if limit is None else limit
        )
        return JSONResponse({"object": "list", "query": query, "data": hits})


def _number(value: str | None, name: str, low: int, high: int) -> int | None:
    """A whole-number parameter from `low` to `high` (None when not given)."""
    if value is None:
        return None
    try:
        number = int(value)
    except ValueError:
        number = low - 1
    if not low <= number <= high:
        raise ApiError(400, f"{name} must be a whole number from {low} to {high}", param=name)
    return number


def _search(
    state: ServerState, query: str, video: str | None, least: int | None, limit: int
) -> list[dict[str, Any]]:
    from ..library.store import Library

    path = state.settings.library
    if path is None or not path.is_file():
        if not query.strip():
            raise ApiError(400, "the search is empty: give words, or a quoted phrase", param="q")
        return []
    try:
        with Library.open(path) as library:
            return [hit.to_dict() for hit in library.search(query, video, least, limit)]
    except UsageError as error:
        raise ApiError(400, error.message, param="q") from error
    except ChroniconError as error:
        message = f"the library cannot be read: {error.message}"
        raise ApiError(500, message, "server_error") from error
