"""Errors as OpenAI clients expect them: a status and ``{"error": {message, type, param,
code}}``."""

from __future__ import annotations

import re
from typing import Any

from ..errors import ChroniconError, ResourceError, UsageError, VideoError

_FIRST_FIELD = re.compile("\x1f([\\w-]+)")


class ApiError(Exception):
    """A request the server answers with an error object."""

    def __init__(
        self,
        status: int,
        message: str,
        kind: str = "invalid_request_error",
        param: str | None = None,
        code: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.kind = kind
        self.param = param
        self.code = code
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        """The JSON body."""
        return {
            "error": {
                "message": self.message,
                "type": self.kind,
                "param": self.param,
                "code": self.code,
            }
        }


def bad_request(message: str, param: str | None = None, code: str | None = None) -> ApiError:
    """400: the request is malformed or asks for something out of range."""
    return ApiError(400, message, param=param, code=code)


def from_chronicon(error: ChroniconError) -> ApiError:
    """The API's answer to one of the tool's own failures: the message with its hint, the
    setting it names as `param`."""
    names: dict[str, str] = {"start_s": "start", "end_s": "end", "prompt": "messages"}
    message, hint = error.rendered(names)
    text = f"{message} ({hint})" if hint else message
    found = _FIRST_FIELD.search(error.template)
    param = names.get(found.group(1), found.group(1)) if found else None
    if isinstance(error, VideoError):
        return ApiError(422, text, param=param, code="unreadable_media")
    if isinstance(error, UsageError):
        return ApiError(400, text, param=param)
    if isinstance(error, ResourceError):
        return ApiError(400, text, param=param, code="too_large_for_memory")
    return ApiError(500, text, kind="server_error")


def no_model(name: str) -> ApiError:
    """404: a model this server does not serve."""
    return ApiError(
        404,
        f"the model '{name}' is not served here (GET /v1/models lists it)",
        param="model",
        code="model_not_found",
    )
