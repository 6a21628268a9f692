"""The Starlette app factory: the route table, the middleware, the error handlers and
the lifespan that starts and stops the worker.

What the pieces live in: the middleware in :mod:`musicvid_server.guards`, the routes in
:mod:`musicvid_server.views` (read-only, GET) and :mod:`musicvid_server.actions` (start
and cancel, POST), request parsing in :mod:`musicvid_server.parsing`, the state the
routes share in :mod:`musicvid_server.state`; the public names that were defined here
before are imported back.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable

import anyio
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from musicvid import Pipeline, RenderConfig

from .actions import cancel, start
from .errors import ApiError, error_response
from .guards import (  # noqa: F401  (SECURITY_HEADERS: re-exported)
    SECURITY_HEADERS,
    ApiKeyMiddleware,
    OriginCheckMiddleware,
    SecurityHeadersMiddleware,
)
from .openapi import build_openapi
from .parsing import (  # noqa: F401  (re-exported: they were defined here)
    FORM_FIELDS,
    JOB_OPTIONS,
    LYRICS_MAX_BYTES,
    MAX_OFFSET,
    REQUIRED_FIELDS,
    SEED_MAX,
    parse_job_fields,
)
from .process import DataDirLock
from .settings import ServerSettings
from .state import ServerState
from .store import JobStore
from .tokens import install_redaction
from .views import (  # noqa: F401  (VideoResponse: re-exported)
    STATIC_DIR,
    VideoResponse,
    events,
    health,
    jobs,
    keyframe,
    lyrics,
    openapi,
    options,
    page,
    result,
    status,
    storyboard,
)
from .worker import Worker

__all__ = ["ServerState", "create_app"]

log = logging.getLogger(__name__)

Endpoint = Callable[[Request], Awaitable[Response]]
VIEWS: dict[str, Endpoint] = {  # GET
    "/": page, "/api/health": health, "/api/options": options, "/api/jobs": jobs,
    "/api/generate/status": status, "/api/generate/result": result,
    "/api/generate/storyboard": storyboard, "/api/generate/keyframe": keyframe,
    "/api/generate/lyrics": lyrics, "/api/generate/events": events, "/openapi.json": openapi,
}
ACTIONS: dict[str, Endpoint] = {"/api/generate/start": start, "/api/generate/cancel": cancel}


# -- errors -------------------------------------------------------------------------------
async def api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return error_response(exc)


async def http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    codes = {404: "not_found", 405: "method_not_allowed"}
    body = {"error": codes.get(exc.status_code, "http_error"), "message": exc.detail}
    return JSONResponse(body, status_code=exc.status_code, headers=exc.headers)


async def internal_error(request: Request, exc: Exception) -> Response:
    log.error("internal error on %s %s", request.method, request.url.path, exc_info=exc)
    return JSONResponse({"error": "internal", "message": "internal server error; the server "
                                                         "log has the details"},
                        status_code=500)


# -- the factory --------------------------------------------------------------------------
def _check_render_settings(settings: ServerSettings) -> RenderConfig:
    """Fail at startup, not per job, when the model options or stage names are wrong."""
    from musicvid.plugins import get_stage

    config = RenderConfig.create(profile=settings.profile, **settings.render_config_kwargs())
    for kind, name in (("analyzer", config.analyzer), ("keyframes", config.keyframes),
                       ("motion", config.motion), ("compositor", config.compositor)):
        get_stage(kind, name)
    return config


def create_app(settings: ServerSettings | None = None) -> Starlette:
    """The server app. Jobs run on worker threads started by the app's lifespan (so use
    ``with TestClient(app)`` in tests); raises a :class:`~musicvid.MusicVidError` at once
    when the render settings are invalid."""
    settings = settings or ServerSettings()
    config = _check_render_settings(settings)
    install_redaction()  # no key or signed token in the access log

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        lock = DataDirLock(settings.data_dir)
        lock.acquire()  # creates the data directory, 0700
        (settings.data_dir / "jobs").mkdir(mode=0o700, exist_ok=True)
        store = JobStore(settings.data_dir / "jobs.sqlite3")
        worker = Worker(settings, store)
        try:
            probe = Pipeline(config, stage_factory=worker.pool.factory)
            try:
                probe.preflight()  # a missing extra fails the start, not every job
            finally:
                probe.close()
            worker.start()
            app.state.server = ServerState(settings, store, worker, anyio.Event())
            if settings.trusted_hosts == ["*"]:
                log.warning("any Host header is accepted; name this server's public host "
                            "names with --allowed-host")
            log.info("musicvid server: data in %s, %d worker(s), %s", settings.data_dir,
                     settings.workers, "API key required" if settings.api_key else "no API key")
            yield
        finally:
            if hasattr(app.state, "server"):
                app.state.server.stopping.set()
            # off the event loop: a running job stops at its next unit of work
            if await anyio.to_thread.run_sync(worker.stop):
                store.close()
            lock.release()

    routes: list[BaseRoute] = [Route(path, endpoint, methods=[method])
                               for method, table in (("GET", VIEWS), ("POST", ACTIONS))
                               for path, endpoint in table.items()]
    routes.append(Mount("/static", StaticFiles(directory=STATIC_DIR), name="static"))
    middleware = [
        Middleware(SecurityHeadersMiddleware),
        Middleware(TrustedHostMiddleware, allowed_hosts=settings.trusted_hosts),
        Middleware(OriginCheckMiddleware, allowed_origins=settings.allowed_origins),
        Middleware(ApiKeyMiddleware, api_key=settings.api_key),
    ]
    app = Starlette(routes=routes, middleware=middleware, lifespan=lifespan,
                    exception_handlers={ApiError: api_error, HTTPException: http_error,
                                        Exception: internal_error})
    app.state.settings = settings
    app.state.openapi = build_openapi(settings)
    return app
