"""Running the server: uvicorn over the app, the model loaded in the background, and a
clean stop on SIGINT or SIGTERM (no more requests; running ones get a few seconds; exit 0)."""

from __future__ import annotations

import contextlib
import ipaddress
import signal
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from ..errors import UsageError, field
from .state import ServerState, ServeSettings

GRACE_S = 5.0


def is_loopback(host: str) -> bool:
    """Whether `host` only listens on this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_exposure(settings: ServeSettings) -> None:
    """Refuse to listen beyond this machine without an API key."""
    if not is_loopback(settings.host) and not settings.api_key:
        raise UsageError(
            f"refusing to listen on {settings.host} without an API key",
            hint=f"set {field('api-key')} (or CHRONICON_API_KEY), or listen on 127.0.0.1",
        )


def serve(
    settings: ServeSettings,
    log: Callable[[str], None],
    on_listening: Callable[[str], None] | None = None,
) -> None:
    """Serve until SIGINT or SIGTERM."""
    import uvicorn

    from .app import create_app
    from .jobs import Jobs

    check_exposure(settings)
    state = ServerState(settings, log)
    if settings.jobs_folder is not None:
        state.jobs = Jobs(settings.jobs_folder, log)
    app = create_app(state)
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_level="error",
        access_log=False,
        timeout_graceful_shutdown=int(GRACE_S),
        lifespan="off",
    )
    server = uvicorn.Server(config)
    state.load()
    watcher = threading.Thread(
        target=_watch, args=(server, state, on_listening or log), daemon=True
    )
    watcher.start()
    try:
        with _quiet_after_stop():
            server.run()
    finally:
        state.close()
    if not server.started:
        raise UsageError(
            f"could not listen on {settings.host}:{settings.port}",
            hint=f"is another server on that port? choose another with {field('port')}",
        )


def _watch(server: Any, state: ServerState, say: Callable[[str], None]) -> None:
    """Say where the server listens once it does; when it is told to stop, give running
    requests most of the grace period, then end them (their streams get an error event)."""
    settings = state.settings
    while not server.started and not server.should_exit:
        time.sleep(0.02)
    if server.started:
        host = settings.host if ":" not in settings.host else f"[{settings.host}]"
        say(f"listening on http://{host}:{settings.port} (OpenAI API at /v1)")
    while not server.should_exit:
        time.sleep(0.05)
    if state.scheduler is not None:
        state.scheduler.stop(timeout=GRACE_S - 2.0)


@contextlib.contextmanager
def _quiet_after_stop() -> Iterator[None]:
    """uvicorn stops gracefully on SIGINT/SIGTERM, then raises the signal again for the
    handlers it found: these only note it, so that a stop is a clean exit."""
    seen: list[int] = []
    previous = {}
    for number in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(ValueError):
            previous[number] = signal.signal(number, lambda n, frame: seen.append(n))
    try:
        yield
    finally:
        for number, handler in previous.items():
            with contextlib.suppress(ValueError):
                signal.signal(number, handler)
