"""OpenAI's chat completion objects: the whole answer, and the stream's chunks."""

from __future__ import annotations

import json
import secrets
import time
from typing import Any

from ..backends import GenerationOutput


def completion_id() -> str:
    """A new completion's id."""
    return f"chatcmpl-{secrets.token_hex(12)}"


def usage(output: GenerationOutput | None) -> dict[str, Any]:
    """Token counts, with the prompt tokens read from kept state (a cached video)."""
    if output is None:
        return {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}
    prompt, completion = output.prompt_tokens, output.generated_tokens
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": output.reused_tokens},
    }


def finish_reason(output: GenerationOutput, stopped_on_string: bool) -> str:
    """``stop`` (an end of answer or a stop string) or ``length`` (the token budget)."""
    return "stop" if stopped_on_string or output.finish_reason == "stop" else "length"


def completion(
    ident: str, model: str, text: str, output: GenerationOutput, stopped: bool
) -> dict[str, Any]:
    """The response to a request that did not stream."""
    return {
        "id": ident,
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": text},
                "finish_reason": finish_reason(output, stopped),
            }
        ],
        "usage": usage(output),
    }


def chunk(
    ident: str,
    model: str,
    delta: dict[str, Any] | None,
    finish: str | None = None,
    usage_: dict[str, Any] | None = None,
    extension: dict[str, Any] | None = None,
) -> str:
    """One server-sent event of a streamed completion; `extension`, the server's own
    fields, goes under ``chronicon`` (clients that do not know it ignore it)."""
    body: dict[str, Any] = {
        "id": ident,
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": model,
        "choices": [] if delta is None else [{"index": 0, "delta": delta, "finish_reason": finish}],
    }
    if usage_ is not None:
        body["usage"] = usage_
    if extension:
        body["chronicon"] = extension
    return event(body)


def event(body: dict[str, Any]) -> str:
    """A server-sent event carrying JSON."""
    return f"data: {json.dumps(body, ensure_ascii=False)}\n\n"


DONE = "data: [DONE]\n\n"
