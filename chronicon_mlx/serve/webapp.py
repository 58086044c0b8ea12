"""The web app on the server: the page at ``/`` (a Jinja2 template and plain JavaScript
served from the package), a session cookie for the media the browser's own player loads,
the videos under the media roots, each one served with HTTP range requests, and the frame
images of an answer's strip."""

from __future__ import annotations

import functools
import hmac
import secrets
from importlib import resources
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from .bodies import read_body
from .errors import ApiError, bad_request
from .state import ServerState

SESSION_COOKIE = "chronicon_session"
STATIC = {"app.js": "text/javascript", "app.css": "text/css"}
MAX_LISTED = 2000
"""Videos listed at most (the first, by path)."""
FRAME_EDGE = 192
"""The longest edge of a strip's frame images, in pixels."""
POLICY = (
    "default-src 'self'; img-src 'self' data:; media-src 'self'; style-src 'self';"
    " script-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'"
)
"""The page's Content-Security-Policy: its own script and styles, nothing inline, nothing
from elsewhere (text that slipped through as markup could still not run)."""


class Sessions:
    """The browser sessions that logged in with the key (kept in memory: a restart logs
    them out)."""

    def __init__(self) -> None:
        self._tokens: set[str] = set()

    def new(self) -> str:
        """A new session's token."""
        token = secrets.token_urlsafe(32)
        self._tokens.add(token)
        return token

    def valid(self, token: str | None) -> bool:
        """Whether `token` belongs to a session."""
        if not token:
            return False
        return any(hmac.compare_digest(token.encode(), known.encode()) for known in self._tokens)


def _page_html(state: ServerState) -> str:
    """The app's page, its form starting within the server's caps (so that a plain
    question is never refused)."""
    from ..options import choices
    from ..options.profiles import BUILTIN
    from ..output.report import environment

    caps = state.settings.caps
    template = environment("chronicon_mlx.serve").get_template("app.html.j2")
    return template.render(
        model=state.model_id,
        key_required=bool(state.settings.api_key),
        profiles=list(BUILTIN),
        max_frames=caps.max_frames,
        frames=min(choices.DEFAULT_FRAMES, caps.max_frames),
        max_tokens=caps.max_tokens,
        tokens=min(choices.DEFAULT_MAX_TOKENS, caps.max_tokens),
    )


def add_web_routes(app: FastAPI, state: ServerState, sessions: Sessions) -> None:
    """The page, its files, the session, the videos and their frames."""

    @app.get("/")
    async def page() -> Response:
        return HTMLResponse(_page_html(state), headers=_page_headers())

    @app.get("/app/{name}")
    async def static(name: str) -> Response:
        kind = STATIC.get(name)
        if kind is None:
            raise ApiError(404, f"no file '{name}'", code="not_found")
        text = resources.files("chronicon_mlx.serve").joinpath("web", name).read_text("utf-8")
        return Response(text, media_type=kind, headers={"Cache-Control": "no-cache"})

    @app.post("/app/session")
    async def session(request: Request) -> Response:
        body = await read_body(request, 4096)
        key = state.settings.api_key
        given = body.get("key") if isinstance(body, dict) else None
        if not isinstance(given, str):
            raise bad_request('send the key as {"key": "..."}', "key")
        if key and not hmac.compare_digest(given.encode(), key.encode()):
            raise ApiError(401, "the key is not this server's", code="invalid_api_key")
        response = Response(status_code=204)
        response.set_cookie(
            SESSION_COOKIE, sessions.new(), httponly=True, samesite="strict", path="/v1/"
        )
        return response

    @app.get("/v1/videos")
    async def videos() -> Response:
        listed = await run_in_threadpool(_videos, state)
        return JSONResponse({"object": "list", "data": listed})

    @app.get("/v1/media")
    async def media(request: Request) -> Response:
        found = _under_roots(state, request.query_params.get("path", ""))
        return FileResponse(found, headers={"Cache-Control": "private, max-age=3600"})

    @app.get("/v1/frame")
    async def frame(request: Request) -> Response:
        found = _under_roots(state, request.query_params.get("path", ""))
        try:
            seconds = float(request.query_params.get("t", "0"))
        except ValueError:
            seconds = -1.0
        if not 0 <= seconds < 1e7:
            raise bad_request("t must be a time in seconds", "t")
        data = await run_in_threadpool(_frame_jpeg, found, seconds)
        return Response(data, media_type="image/jpeg", headers={"Cache-Control": "max-age=3600"})


def _page_headers() -> dict[str, str]:
    return {
        "Content-Security-Policy": POLICY,
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        "Cache-Control": "no-cache",
    }


def _under_roots(state: ServerState, path: str) -> Path:
    if not path:
        raise bad_request("name the video with ?path=", "path")
    found: Path = state.media.local(path, "path")
    return found


def _videos(state: ServerState) -> list[dict[str, Any]]:
    """Every video under the media roots (name, path, size, duration, whether the video
    cache holds it, how many moments the library holds), then the library's other videos,
    which this server cannot play."""
    from ..media.sources import VIDEO_EXTENSIONS

    described = _described(state)
    cached = _cached_check(state)
    listed: list[dict[str, Any]] = []
    for root in state.media.roots:
        for path in sorted(root.rglob("*")):
            if len(listed) >= MAX_LISTED:
                return listed
            if path.suffix.lower() not in VIDEO_EXTENSIONS or path.is_symlink():
                continue
            if not path.is_file():
                continue
            facts = path.stat()
            duration = _duration(str(path), facts.st_size, facts.st_mtime_ns)
            listed.append(
                {
                    "path": str(path),
                    "name": path.name,
                    "folder": str(path.parent.relative_to(root)),
                    "size": facts.st_size,
                    "duration_s": duration,
                    "described": described.get(str(path), (0.0, 0))[1],
                    "cached": duration is not None and cached(path),
                    "playable": True,
                }
            )
    shown = {entry["path"] for entry in listed}
    for known, (duration, count) in described.items():
        if known not in shown and len(listed) < MAX_LISTED:
            where = Path(known)
            listed.append(
                {
                    "path": known,
                    "name": where.name,
                    "folder": str(where.parent),
                    "size": None,
                    "duration_s": duration,
                    "described": count,
                    "cached": False,
                    "playable": False,
                }
            )
    return listed


@functools.lru_cache(maxsize=4096)
def _duration(path: str, size: int, modified: int) -> float | None:
    """A video's duration, probed once per state of the file (None: it cannot be read)."""
    from ..media.probe import probe

    try:
        return probe(path).duration_s
    except Exception:  # a damaged file is listed, without a duration
        return None


def _described(state: ServerState) -> dict[str, tuple[float, int]]:
    """Each video the library holds: its duration and moments (empty without a library)."""
    from ..errors import ChroniconError
    from ..library.store import Library

    where = state.settings.library
    if where is None or not where.is_file():
        return {}
    try:
        with Library.open(where) as library:
            return {path: (duration, count) for path, duration, count in library.videos()}
    except ChroniconError:
        return {}


def _cached_check(state: ServerState) -> Any:
    """A check of whether the video cache holds a video's frames as a question with the
    page's default settings (8 frames of the whole video) would ask for them; a video the
    cache never read is not read now."""
    from ..analysis.cached import CachedVideo
    from ..analysis.frames import plan_video
    from ..analysis.params import SamplingConfig
    from ..analysis.runlog import RunLog
    from ..media.digest import remembered_digest

    session, loaded = state.session, state.loaded
    cache = session.video_cache if session is not None else None
    if cache is None or loaded is None:
        return lambda path: False

    def check(path: Path) -> bool:
        if remembered_digest(path, cache.memo) is None:
            return False
        try:
            sampling = SamplingConfig()
            run = RunLog()
            planned = plan_video(path, sampling, loaded.model.frame_size, run)
            entries = CachedVideo.open(cache, loaded, planned, sampling.seek, run)
        except Exception:  # a file that cannot be planned is not cached
            return False
        return entries is not None and cache.holds("frames", entries.key)

    return check


def _frame_jpeg(path: Path, seconds: float) -> bytes:
    """The frame shown at `seconds`, as a small JPEG."""
    import cv2

    from ..media.decode import sample
    from ..media.probe import probe

    info = probe(path)
    index = max(0, min(info.frame_count - 1, round(seconds * info.fps)))
    frames = sample(info, [index], FRAME_EDGE, "exact")
    if not frames:
        raise ApiError(404, f"no frame at {seconds:g} s", param="t", code="no_frame")
    image = cv2.cvtColor(frames[0].image, cv2.COLOR_RGB2BGR)
    done, encoded = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 80])
    if not done:
        raise ApiError(500, "the frame could not be encoded", "server_error")
    return bytes(encoded.tobytes())
