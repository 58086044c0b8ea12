"""OpenAI's chat completions request, checked and read into what the tool needs: the
conversation (system, earlier turns, the question), its video or images, sampling and
generation settings. Every mistake is a 400 naming the field."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .errors import ApiError, bad_request

ROLES = ("system", "developer", "user", "assistant")
# Fields clients send that change nothing here when left at their defaults.
NEUTRAL: dict[str, tuple[Any, ...] | None] = {
    "top_p": (None, 1, 1.0),
    "presence_penalty": (None, 0, 0.0),
    "frequency_penalty": (None, 0, 0.0),
    "logprobs": (None, False),
    "top_logprobs": (None, 0),
    "logit_bias": (None, {}),
    "tools": (None, []),
    "tool_choice": (None, "none", "auto"),
    "parallel_tool_calls": (None, True, False),
    "user": None,
    "metadata": None,
    "store": (None, False),
    "service_tier": None,
    "modalities": (None, ["text"]),
}
KNOWN = {
    "model",
    "messages",
    "max_tokens",
    "max_completion_tokens",
    "temperature",
    "seed",
    "stop",
    "n",
    "stream",
    "stream_options",
    "response_format",
    "frames",
    "fps",
    "start",
    "end",
    "sampling",
    "profile",
}
MAX_STOPS = 4


@dataclass
class ChatCall:
    """A chat completions request, read."""

    model: str | None
    question: str
    system: str | None = None
    turns: list[tuple[str, str]] = field(default_factory=list)
    video: str | None = None
    video_param: str = "messages"
    images: list[tuple[str, str]] = field(default_factory=list)
    frames: int | None = None
    fps: float | None = None
    start: str | None = None
    end: str | None = None
    sampling: str = "uniform"
    profile: str | None = None
    max_tokens: int | None = None
    temperature: float = 0.0
    seed: int | None = None
    stop: list[str] = field(default_factory=list)
    stream: bool = False
    include_usage: bool = False
    json_schema: dict[str, Any] | None = None


def read_chat(body: Any) -> ChatCall:
    """Check a request body and read it."""
    if not isinstance(body, dict):
        raise bad_request("the request body must be a JSON object")
    for name in body:
        if name in NEUTRAL:
            allowed = NEUTRAL[name]
            if allowed is not None and body[name] not in allowed:
                raise bad_request(f"'{name}' is not supported by this server", name)
        elif name not in KNOWN:
            raise bad_request(f"unknown field '{name}'", name, "unknown_parameter")
    call = _conversation(body.get("messages"))
    call.model = _optional(body, "model", str)
    _generation(body, call)
    _sampling(body, call)
    return call


def _optional(body: dict[str, Any], name: str, kind: type | tuple[type, ...]) -> Any:
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) and kind is not bool:
        raise bad_request(f"'{name}' must be a {_kind(kind)}", name)
    if not isinstance(value, kind):
        raise bad_request(f"'{name}' must be a {_kind(kind)}", name)
    return value


def _kind(kind: type | tuple[type, ...]) -> str:
    names = {str: "string", int: "integer", float: "number", bool: "boolean", dict: "object"}
    kinds = kind if isinstance(kind, tuple) else (kind,)
    return " or ".join(dict.fromkeys(names.get(k, k.__name__) for k in kinds))


def _generation(body: dict[str, Any], call: ChatCall) -> None:
    tokens = _optional(body, "max_completion_tokens", int)
    if tokens is None:
        tokens = _optional(body, "max_tokens", int)
    call.max_tokens = tokens
    temperature = _optional(body, "temperature", (int, float))
    call.temperature = 0.0 if temperature is None else float(temperature)
    call.seed = _optional(body, "seed", int)
    n = _optional(body, "n", int)
    if n not in (None, 1):
        raise bad_request("this server answers with one choice ('n' must be 1)", "n")
    call.stream = bool(_optional(body, "stream", bool))
    options = _optional(body, "stream_options", dict) or {}
    call.include_usage = bool(options.get("include_usage", False))
    call.stop = _stops(body.get("stop"))
    call.json_schema = _response_format(body.get("response_format"))


def _stops(value: Any) -> list[str]:
    if value is None:
        return []
    stops = [value] if isinstance(value, str) else value
    if not isinstance(stops, list) or not all(isinstance(s, str) and s for s in stops):
        raise bad_request("'stop' must be a string or a list of non-empty strings", "stop")
    if len(stops) > MAX_STOPS:
        raise bad_request(f"'stop' takes at most {MAX_STOPS} strings", "stop")
    return list(stops)


def _response_format(value: Any) -> dict[str, Any] | None:
    if value is None:
        return None
    if not isinstance(value, dict) or "type" not in value:
        raise bad_request("'response_format' must be an object with a 'type'", "response_format")
    kind = value["type"]
    if kind == "text":
        return None
    if kind == "json_object":
        return {"type": "object"}
    if kind == "json_schema":
        spec = value.get("json_schema")
        schema = spec.get("schema") if isinstance(spec, dict) else None
        if not isinstance(schema, dict):
            raise bad_request(
                "'response_format.json_schema.schema' must be a JSON schema object",
                "response_format",
            )
        return schema
    raise bad_request(
        f"unknown response_format type '{kind}' (text, json_object or json_schema)",
        "response_format",
    )


def _sampling(body: dict[str, Any], call: ChatCall) -> None:
    call.frames = _optional(body, "frames", int)
    fps = _optional(body, "fps", (int, float))
    call.fps = None if fps is None else float(fps)
    for name in ("start", "end"):
        value = _optional(body, name, (str, int, float))
        setattr(call, name, None if value is None else str(value))
    call.sampling = _optional(body, "sampling", str) or "uniform"
    call.profile = _optional(body, "profile", str)


def _conversation(messages: Any) -> ChatCall:
    if not isinstance(messages, list) or not messages:
        raise bad_request("'messages' must be a non-empty list", "messages")
    system: list[str] = []
    turns: list[tuple[str, str]] = []
    asked: list[str] = []
    video: tuple[str, str] | None = None
    images: list[tuple[str, str]] = []
    for number, message in enumerate(messages):
        where = f"messages[{number}]"
        if not isinstance(message, dict):
            raise bad_request(f"{where} must be an object", where)
        role = message.get("role")
        if role not in ROLES:
            raise bad_request(f"{where}.role must be one of {', '.join(ROLES)}", f"{where}.role")
        texts, media = _content(message.get("content"), where, role == "user")
        text = "\n".join(texts).strip()
        if role in ("system", "developer"):
            if turns or asked:
                raise bad_request(f"{where}: a system message must come first", where)
            system.append(text)
            continue
        if role == "user":
            for kind, url, param in media:
                if kind == "video_url":
                    if video is not None and video[0] != url:
                        raise bad_request("a conversation is about one video", param)
                    video = (url, param)
                else:
                    images.append((url, param))
            if text:
                asked.append(text)
            continue
        if not asked:
            raise bad_request(f"{where}: an assistant message must answer a user message", where)
        turns.append(("\n".join(asked), text))
        asked = []
    if not asked:
        raise bad_request("the last message must be a user message with a question", "messages")
    if video is not None and images:
        raise bad_request("a request takes a video or images, not both", images[0][1])
    call = ChatCall(model=None, question="\n".join(asked), turns=turns)
    call.system = "\n".join(s for s in system if s) or None
    if video is not None:
        call.video, call.video_param = video
    call.images = images
    return call


def _content(content: Any, where: str, media_allowed: bool) -> tuple[list[str], list[Any]]:
    if isinstance(content, str):
        return [content], []
    if not isinstance(content, list):
        raise bad_request(f"{where}.content must be a string or a list of parts", where)
    texts: list[str] = []
    media: list[tuple[str, str, str]] = []
    for number, part in enumerate(content):
        param = f"{where}.content[{number}]"
        kind = part.get("type") if isinstance(part, dict) else None
        if kind == "text" and isinstance(part.get("text"), str):
            texts.append(part["text"])
        elif kind in ("video_url", "image_url"):
            if not media_allowed:
                raise bad_request(f"{param}: only user messages carry media", param)
            holder = part.get(kind)
            url = holder.get("url") if isinstance(holder, dict) else holder
            if not isinstance(url, str) or not url:
                raise bad_request(f"{param}.{kind}.url must be a string", param)
            media.append((kind, url, param))
        else:
            raise bad_request(
                f"{param} must be a text, video_url or image_url part", param, "unsupported_part"
            )
    return texts, media


def too_many(limit_name: str, asked: int, cap: int, param: str) -> ApiError:
    """400: a setting above the server's cap."""
    return bad_request(f"'{param}' is {asked}, above this server's {limit_name} of {cap}", param)
