"""``/v1/highlights``: start a highlights job, see where it stands, follow its windows."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse

from ..errors import ChroniconError
from ..timecodes import parse_time
from .bodies import read_body
from .completions import DONE, event
from .errors import ApiError, bad_request, from_chronicon
from .jobs import FINISHED, HighlightsJob, Jobs
from .state import ServerState

FIELDS = {
    "model",
    "video",
    "profile",
    "window",
    "overlap",
    "frames_per_window",
    "start",
    "end",
    "min_significance",
    "max_highlights",
}
EVENT_WAIT_S = 1.0
SECONDS = {"window_s", "overlap_s"}
"""Settings held as float seconds, whether a request writes 5 or 5.0 (the CLI's records
hold floats, and the library tells passes apart by their settings)."""


def add_job_routes(app: FastAPI, state: ServerState) -> None:
    """The highlights job routes."""

    def jobs() -> Jobs:
        if state.jobs is None:
            raise ApiError(404, "this server runs no highlights jobs", code="jobs_disabled")
        found: Jobs = state.jobs
        return found

    @app.post("/v1/highlights")
    async def start(request: Request) -> Response:
        body = await read_body(request, state.settings.max_body_mb * 2**20)
        state.require_ready()
        store = jobs()
        loop = asyncio.get_running_loop()
        checked, upload = await loop.run_in_executor(state.preparing, _checked, state, body)
        job = store.create(checked, upload)
        return JSONResponse(job.public(), status_code=202)

    @app.get("/v1/highlights/{ident}")
    async def status(ident: str) -> Response:
        return JSONResponse(jobs().get(ident).public())

    @app.get("/v1/highlights/{ident}/events")
    async def events(ident: str) -> Response:
        job = jobs().get(ident)
        return StreamingResponse(_events(job), media_type="text/event-stream")


def _checked(state: ServerState, body: Any) -> tuple[dict[str, Any], Any]:
    """The job's request, checked now (a mistake is a 400 here, not a failed job)."""
    from ..highlight.params import HighlightsConfig
    from ..media.probe import probe
    from ..options.profiles import get

    if not isinstance(body, dict):
        raise bad_request("the request body must be a JSON object")
    for name in body:
        if name not in FIELDS:
            raise bad_request(f"unknown field '{name}'", name, "unknown_parameter")
    model = body.get("model")
    if model is not None and model not in state.names():
        raise ApiError(404, f"the model '{model}' is not served here", code="model_not_found")
    video = body.get("video")
    if not isinstance(video, str) or not video:
        raise bad_request("'video' must be a path under a media root or a data: URL", "video")
    uploads = state.media.uploads()
    try:
        path = state.media.video(video, uploads, "video")
        profile = get(str(body.get("profile") or "general"))
        config: dict[str, Any] = {}
        for name, key in (
            ("window", "window_s"),
            ("overlap", "overlap_s"),
            ("frames_per_window", "frames_per_window"),
            ("min_significance", "min_significance"),
            ("max_highlights", "max_highlights"),
        ):
            value = body.get(name)
            if value is not None:
                config[key] = _seconds(value) if key in SECONDS else value
        for name in ("start", "end"):
            if body.get(name) is not None:
                config[f"{name}_s"] = parse_time(str(body[name]), f"{name}_s")
        HighlightsConfig.for_profile(profile, **config)
        probe(path)
    except ChroniconError as error:
        uploads.remove()
        raise from_chronicon(error) from error
    except (TypeError, ValueError) as error:
        uploads.remove()
        raise bad_request(f"a window setting is not valid: {error}") from error
    checked = {"video": str(path), "profile": profile.name, "config": config}
    return checked, (path if uploads.paths else None)


async def _events(job: HighlightsJob) -> AsyncIterator[str]:
    """Each window as it is scored (those done already first), then the result or the
    error."""
    sent = 0
    while True:
        windows = list(job.windows)
        for window in windows[sent:]:
            yield event({"type": "window", "window": window, "total": job.windows_total})
        sent = len(windows)
        if job.status in FINISHED and sent >= len(job.windows):
            final = job.public()
            yield event({"type": job.status, **final})
            yield DONE
            return
        await asyncio.get_running_loop().run_in_executor(None, _wait, job, sent)


def _wait(job: HighlightsJob, seen: int) -> None:
    with job.changed:
        if len(job.windows) == seen and job.status not in FINISHED:
            job.changed.wait(EVENT_WAIT_S)


def _seconds(value: Any) -> Any:
    """A number of seconds as a float (anything else is left for the checks to refuse)."""
    if isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    return value
