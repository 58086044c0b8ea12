"""Request bodies: JSON, refused past the server's size cap before they are read whole."""

from __future__ import annotations

import json
from typing import Any

from fastapi import Request

from .errors import ApiError, bad_request


async def read_body(request: Request, limit: int) -> Any:
    """The request's JSON body, refused (413) past `limit` bytes."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise _too_big(limit)
    data = bytearray()
    async for part in request.stream():
        data += part
        if len(data) > limit:
            raise _too_big(limit)
    try:
        return json.loads(data)
    except (ValueError, UnicodeDecodeError) as error:
        raise bad_request(f"the body is not JSON: {error}") from error


def _too_big(limit: int) -> ApiError:
    return ApiError(
        413,
        f"the request body is larger than this server's {limit // 2**20} MB",
        code="request_too_large",
    )
