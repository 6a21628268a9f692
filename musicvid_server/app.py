"""The Starlette app factory: routes, security middleware, the worker's lifespan."""

from __future__ import annotations

import contextlib
import hmac
import json
import logging
import re
import secrets
import shutil
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import ClientDisconnect, Request
from starlette.responses import FileResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Receive, Scope, Send

from musicvid import RenderConfig
from musicvid.config import CAPTION_MODES, Genre, Palette, Style
from musicvid.errors import InvalidOptionError
from musicvid.options import form_options

from .errors import ApiError
from .openapi import build_openapi
from .process import DataDirLock
from .settings import ServerSettings
from .store import FINAL_STATES, STATES, JobStore, parse_job_id
from .uploads import read_form, validate_audio
from musicvid import Pipeline

from .worker import Worker, job_dir

__all__ = ["ServerState", "create_app"]

log = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).parent / "static"
JOB_OPTIONS = form_options()  # the per-job options a form may set: genre, style, ...
FORM_FIELDS = set(JOB_OPTIONS)
REQUIRED_FIELDS = ("genre", "style", "palette")  # besides the audio file
LYRICS_MAX_BYTES = 256 * 1024
SEED_MAX = 2**32 - 1
MAX_OFFSET = 2**31 - 1
SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"content-security-policy",
     b"default-src 'self'; img-src 'self' data:; media-src 'self'; "
     b"frame-ancestors 'none'; base-uri 'none'; form-action 'self'"),
]


@dataclass
class ServerState:
    settings: ServerSettings
    store: JobStore
    worker: Worker
    stopping: anyio.Event


# -- middleware ---------------------------------------------------------------------------
class ApiKeyMiddleware:
    """With a key set, /api/* (but /api/health and /api/options) needs
    ``Authorization: Bearer KEY`` or ``?access_token=KEY`` (RFC 6750 §2.1, §2.3)."""

    OPEN = ("/api/health", "/api/options")

    def __init__(self, app: ASGIApp, api_key: str | None):
        self.app = app
        self.key = api_key.encode() if api_key else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if (self.key is None or scope["type"] != "http" or not path.startswith("/api/")
                or path in self.OPEN):
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        given = ""
        auth = request.headers.get("authorization", "")
        if auth[:7].lower() == "bearer ":
            given = auth[7:].strip()
        elif "access_token" in request.query_params:
            given = request.query_params["access_token"]
        if given and hmac.compare_digest(given.encode(), self.key):
            await self.app(scope, receive, send)
            return
        err = ApiError(401, "unauthorized",
                       "this server needs its API key: send 'Authorization: Bearer <key>'",
                       headers={"WWW-Authenticate": 'Bearer realm="musicvid"'})
        await _error_response(err)(scope, receive, send)


class SecurityHeadersMiddleware:
    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Any) -> None:
            if message["type"] == "http.response.start":
                names = {k.lower() for k, _ in message.get("headers", [])}
                message["headers"] = list(message.get("headers", [])) + [
                    (k, v) for k, v in SECURITY_HEADERS if k not in names]
            await send(message)

        await self.app(scope, receive, send_with_headers)


# -- helpers ------------------------------------------------------------------------------
def _error_response(err: ApiError) -> JSONResponse:
    return JSONResponse(err.body(), status_code=err.status, headers=err.headers)


def _state(request: Request) -> ServerState:
    return request.app.state.server  # type: ignore[no-any-return]


def _job_id(request: Request) -> str:
    raw = request.query_params.get("job_id")
    if raw is None:
        raise ApiError(422, "missing_field", "the query parameter job_id is required",
                       missing=["job_id"])
    job_id = parse_job_id(raw)
    if job_id is None:
        raise ApiError(404, "not_found", "no job with this id")
    return job_id


def _get_job(request: Request) -> Any:
    job = _state(request).store.get(_job_id(request))
    if job is None:
        raise ApiError(404, "not_found", "no job with this id")
    return job


def _int_param(request: Request, name: str, default: int, lo: int, hi: int) -> int:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    if not re.fullmatch(r"\d{1,10}", raw.strip()) or not lo <= int(raw) <= hi:
        raise ApiError(422, "invalid_option", f"{name} must be an integer from {lo} to {hi}",
                       field=name)
    return int(raw)


def _status_json(state: ServerState, job: Any) -> dict[str, Any]:
    return job.to_api(state.store.queue_position(job))  # type: ignore[no-any-return]


def parse_job_fields(fields: dict[str, str]) -> dict[str, Any]:
    """The form's job options (the ``job`` scope of :mod:`musicvid.options`), parsed and
    checked one by one, so a bad value answers 422 naming its field. A missing seed is
    drawn at random."""
    out: dict[str, Any] = {}
    for name, spec in JOB_OPTIONS.items():
        raw = fields.get(name, "").strip()
        if raw == "" and name not in REQUIRED_FIELDS:
            continue
        try:  # the config's own checks and normalisation ("Hip_Hop" -> "hip-hop")
            value = getattr(RenderConfig(**{name: spec.parse(raw)}), name)
            value = getattr(value, "value", value)
        except InvalidOptionError as exc:
            raise ApiError(422, "invalid_option", exc.message, field=name,
                           **({"valid": spec.choice_list()} if spec.choices else {})) from None
        out[name] = value
    if "seed" not in out:
        out["seed"] = secrets.randbelow(SEED_MAX + 1)
    return out


def _lyrics_error(exc: Any) -> ApiError:
    return ApiError(422, "invalid_lyrics", exc.message, field="lyrics", line=exc.line)


def _parse_lyrics_upload(upload: Any) -> tuple[bytes, Any] | None:
    """The ``lyrics`` file part, parsed (None when none was chosen): 422 when it is not
    lyrics."""
    from musicvid.errors import LyricsError
    from musicvid.lyrics import decode_text, parse_lyrics

    if "lyrics" not in upload.blobs:
        return None
    name, data = upload.blobs["lyrics"]
    if not data and not name:
        return None  # a form with an empty file input
    try:
        return data, parse_lyrics(decode_text(data, name or "lyrics"), name or "lyrics")
    except LyricsError as exc:
        raise _lyrics_error(exc) from None


def _check_lyrics(lyrics: Any, duration: float) -> None:
    from musicvid.errors import LyricsError

    try:
        lyrics.check(duration)
    except LyricsError as exc:
        raise _lyrics_error(exc) from None


def _lyrics_json(lyrics: Any) -> dict[str, Any]:
    return {"format": lyrics.format, "timed": lyrics.timed,
            "lines": [{"text": ln.text, "start": round(ln.start, 3) if lyrics.timed else None,
                       "end": round(ln.end, 3) if lyrics.timed else None}
                      for ln in lyrics.lines]}


# -- endpoints ----------------------------------------------------------------------------
async def page(request: Request) -> Response:
    return FileResponse(STATIC_DIR / "index.html", media_type="text/html",
                        headers={"Cache-Control": "no-cache"})


async def health(request: Request) -> JSONResponse:
    return JSONResponse({"status": "ok"})


async def options(request: Request) -> JSONResponse:
    s = _state(request).settings
    return JSONResponse({"genre": Genre.values(), "style": Style.values(),
                         "palette": Palette.values(), "captions": list(CAPTION_MODES),
                         "max_upload_bytes": s.max_upload_bytes,
                         "max_lyrics_bytes": LYRICS_MAX_BYTES,
                         "min_duration_s": s.min_duration_s, "max_duration_s": s.max_duration_s,
                         "api_key_required": s.api_key is not None})


async def openapi(request: Request) -> JSONResponse:
    return JSONResponse(request.app.state.openapi)


async def start(request: Request) -> Response:
    st = _state(request)
    s = st.settings
    try:
        upload = await read_form(request, s.data_dir / "uploads", file_field="audio",
                                 allowed=FORM_FIELDS, max_bytes=s.max_upload_bytes,
                                 blobs={"lyrics": LYRICS_MAX_BYTES})
    except ClientDisconnect:
        return Response(status_code=400)
    try:
        missing = [f for f in ("audio", *REQUIRED_FIELDS)
                   if (upload.file is None if f == "audio" else f not in upload.fields)]
        if missing:
            raise ApiError(422, "missing_field", f"missing form field(s): {', '.join(missing)}",
                           missing=missing)
        job = parse_job_fields(upload.fields)
        genre, style, palette = (str(job[k]) for k in ("genre", "style", "palette"))
        seed = int(job["seed"])
        lyrics = _parse_lyrics_upload(upload)
        assert upload.file is not None
        info = await run_in_threadpool(validate_audio, upload.file, s.min_duration_s,
                                       s.max_duration_s)
        if lyrics is not None:
            _check_lyrics(lyrics[1], info.duration)
        job_id = str(uuid.uuid4())
        folder = job_dir(s.data_dir, job_id)
        if lyrics is not None:
            job["lyrics"] = folder / "lyrics.txt"
        config = RenderConfig.create(profile=s.profile, **job, **s.render_config_kwargs())
        folder.mkdir(parents=True)
        try:
            if lyrics is not None:
                (folder / "lyrics.txt").write_bytes(lyrics[0])
            upload.file.replace(folder / "audio")
            upload.file = None
            st.store.create(job_id, genre=genre, style=style, palette=palette, seed=seed,
                            filename=upload.filename, duration_s=info.duration,
                            config=config.to_dict())
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
    finally:
        upload.discard()
    st.worker.notify()
    log.info("job %s queued (%s, %.1f s, %s/%s/%s seed %d)", job_id, info.codec, info.duration,
             genre, style, palette, seed)
    body: dict[str, Any] = {"job_id": job_id}
    if lyrics is not None:
        body["lyrics"] = _lyrics_json(lyrics[1])
    return JSONResponse(body, headers={"Location": f"/api/generate/status?job_id={job_id}"})


async def status(request: Request) -> JSONResponse:
    return JSONResponse(_status_json(_state(request), _get_job(request)),
                        headers={"Cache-Control": "no-store"})


async def result(request: Request) -> Response:
    st = _state(request)
    job = _get_job(request)
    download = _int_param(request, "download", 0, 0, 1)
    if job.state != "succeeded":
        why = {"failed": f"the job failed: {job.error}", "canceled": "the job was canceled"}
        raise ApiError(409, "not_finished",
                       why.get(job.state, f"the video is not ready yet (state {job.state})"),
                       state=job.state)
    path = job_dir(st.settings.data_dir, job.id) / "video.mp4"
    if job.expired or not path.is_file():
        raise ApiError(410, "gone", "the video was deleted after the server's result TTL; "
                                    "submit the song again", state=job.state)
    return FileResponse(path, media_type="video/mp4",
                        filename=f"musicvid-{job.id[:8]}.mp4",
                        content_disposition_type="attachment" if download else "inline")


async def lyrics(request: Request) -> Response:
    """The lyrics a finished job's video used, with their times (JSON), or its captions as
    WebVTT (``format=vtt``) or SubRip (``format=srt``)."""
    from musicvid.errors import LyricsError
    from musicvid.lyrics import decode_text, detect_format, load_lyrics

    st = _state(request)
    job = _get_job(request)
    fmt = request.query_params.get("format", "json")
    if fmt not in ("json", "vtt", "srt"):
        raise ApiError(422, "invalid_option", f"invalid format: {fmt[:16]!r}", field="format",
                       valid=["json", "vtt", "srt"])
    if job.state != "succeeded":
        raise ApiError(409, "not_finished", f"the video is not ready yet (state {job.state})",
                       state=job.state)
    path = job_dir(st.settings.data_dir, job.id) / "video.vtt"
    if job.expired or not path.is_file():
        raise ApiError(404, "not_found", "this video has no lyrics")
    if fmt != "json":
        target = path.with_suffix(f".{fmt}")
        return FileResponse(target, media_type="text/vtt" if fmt == "vtt" else
                            "application/x-subrip", headers={"Cache-Control": "no-cache"})
    try:
        used = await run_in_threadpool(load_lyrics, path)
        given = path.with_name("lyrics.txt")  # the uploaded file, if there was one
        used.format = (detect_format(decode_text(given.read_bytes())) if given.is_file()
                       else "transcript")
    except LyricsError as exc:  # pragma: no cover - the files are ours
        raise ApiError(500, "internal", exc.message) from None
    return JSONResponse(_lyrics_json(used))


async def cancel(request: Request) -> JSONResponse:
    st = _state(request)
    job = _get_job(request)
    if job.state in ("succeeded", "failed"):
        raise ApiError(409, "already_finished", f"the job already {job.state}",
                       state=job.state)
    after = st.store.request_cancel(job.id)  # first the flag, then the running job's event
    st.worker.cancel(job.id)
    if after is None:  # pragma: no cover - rows are never deleted
        raise ApiError(404, "not_found", "no job with this id")
    if job.state == "queued" and after.state == "canceled":  # it never ran: drop the upload
        shutil.rmtree(job_dir(st.settings.data_dir, job.id), ignore_errors=True)
    return JSONResponse(_status_json(st, after))


async def events(request: Request) -> Response:
    st = _state(request)
    job_id = _get_job(request).id
    poll, keepalive, max_age = 0.2, 15.0, 3600.0

    async def stream() -> AsyncIterator[str]:
        yield "retry: 2000\n\n"
        seen: tuple[int, int | None] | None = None
        started = last_sent = time.monotonic()
        while not st.stopping.is_set() and time.monotonic() - started < max_age:
            job = st.store.get(job_id)
            if job is None:  # the database was replaced under us
                return
            version = st.store.version(job_id)
            position = st.store.queue_position(job)
            if (version, position) != seen:
                seen = (version, position)
                last_sent = time.monotonic()
                yield f"event: status\ndata: {json.dumps(job.to_api(position))}\n\n"
                if job.state in FINAL_STATES:
                    yield "event: end\ndata: {}\n\n"
                    return
            elif time.monotonic() - last_sent > keepalive:
                last_sent = time.monotonic()
                yield ": keep-alive\n\n"
            await anyio.sleep(poll)

    return StreamingResponse(stream(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


async def jobs(request: Request) -> JSONResponse:
    st = _state(request)
    limit = _int_param(request, "limit", 20, 1, 100)
    offset = _int_param(request, "offset", 0, 0, MAX_OFFSET)
    state = request.query_params.get("state")
    if state is not None and state not in STATES:
        raise ApiError(422, "invalid_option", f"invalid state: {state[:32]!r}", field="state",
                       valid=list(STATES))
    page_, total = st.store.list_jobs(limit, offset, state)
    positions = st.store.queued_positions()
    return JSONResponse({"jobs": [j.to_api(positions.get(j.id)) for j in page_],
                         "total": total, "limit": limit, "offset": offset,
                         "next_offset": offset + limit if offset + limit < total else None})


# -- errors -------------------------------------------------------------------------------
async def api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return _error_response(exc)


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

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        lock = DataDirLock(settings.data_dir)
        lock.acquire()
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

    routes = [
        Route("/", page, methods=["GET"]),
        Route("/api/health", health, methods=["GET"]),
        Route("/api/options", options, methods=["GET"]),
        Route("/api/generate/start", start, methods=["POST"]),
        Route("/api/generate/status", status, methods=["GET"]),
        Route("/api/generate/result", result, methods=["GET"]),
        Route("/api/generate/cancel", cancel, methods=["POST"]),
        Route("/api/generate/lyrics", lyrics, methods=["GET"]),
        Route("/api/generate/events", events, methods=["GET"]),
        Route("/api/jobs", jobs, methods=["GET"]),
        Route("/openapi.json", openapi, methods=["GET"]),
        Mount("/static", StaticFiles(directory=STATIC_DIR), name="static"),
    ]
    middleware = [
        Middleware(SecurityHeadersMiddleware),
        Middleware(TrustedHostMiddleware, allowed_hosts=settings.trusted_hosts),
        Middleware(ApiKeyMiddleware, api_key=settings.api_key),
    ]
    app = Starlette(routes=routes, middleware=middleware, lifespan=lifespan,
                    exception_handlers={ApiError: api_error, HTTPException: http_error,
                                        Exception: internal_error})
    app.state.settings = settings
    app.state.openapi = build_openapi(settings)
    return app
