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

from musicvid import Pipeline, RenderConfig
from musicvid.config import CAPTION_MODES, MAX_CONCEPT_CHARS, Genre, Palette, Style
from musicvid.errors import InvalidOptionError
from musicvid.options import form_options

from .direction import (
    MAX_REFERENCE_BYTES,
    MAX_REFERENCES,
    keyframe_thumbnail,
    store_references,
    storyboard_view,
    validate_reference,
)
from .errors import ApiError
from .guards import OriginCheckMiddleware
from .openapi import build_openapi
from .process import DataDirLock
from .settings import ServerSettings
from .store import FINAL_STATES, STATES, JobStore, parse_job_id
from .tokens import SIGNED_PATHS, install_redaction, sign, signed_urls, verify
from .uploads import disk_full, insufficient_storage, read_form, validate_audio
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
    uploads: int = 0  # requests receiving an upload right now


# -- middleware ---------------------------------------------------------------------------
class ApiKeyMiddleware:
    """With a key set, /api/* (but /api/health and /api/options) needs
    ``Authorization: Bearer KEY`` or ``?access_token=KEY`` (RFC 6750 §2.1, §2.3); a
    job's video and events also open with the signed ``?token=`` of its status JSON."""

    OPEN = ("/api/health", "/api/options")

    def __init__(self, app: ASGIApp, api_key: str | None):
        self.app = app
        self.key = api_key.encode() if api_key else None
        self.text_key = api_key

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if (self.key is None or scope["type"] != "http" or not path.startswith("/api/")
                or path in self.OPEN):
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        token = request.query_params.get("token")
        if token is not None and path in SIGNED_PATHS and self.text_key:
            job_id = parse_job_id(request.query_params.get("job_id"))
            if job_id is not None and verify(self.text_key, job_id, token):
                await self.app(scope, receive, send)
                return
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
    if not re.fullmatch(r"[0-9]{1,10}", raw.strip()) or not lo <= int(raw) <= hi:
        raise ApiError(422, "invalid_option", f"{name} must be an integer from {lo} to {hi}",
                       field=name)
    return int(raw)


def _status_json(state: ServerState, job: Any, position: Any = ...) -> dict[str, Any]:
    """The status JSON of ``job``, with its ``events_url`` (signed links with a key)."""
    if position is ...:
        position = state.store.queue_position(job)
    data: dict[str, Any] = job.to_api(position)
    signed_urls(state.settings.api_key, state.settings.signed_url_ttl_s, job.id, data)
    return data


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


class VideoResponse(FileResponse):
    """A FileResponse whose Range errors (400, 416) are JSON like every other error."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        held: dict[str, Any] = {}

        async def json_range_errors(message: Any) -> None:
            if message["type"] == "http.response.start" and message["status"] in (400, 416):
                held.update(status=message["status"], body=b"", headers=[
                    (k, v) for k, v in message.get("headers", []) if k.lower() == b"content-range"])
                return
            if not held or message["type"] != "http.response.body":
                await send(message)
                return
            held["body"] += message.get("body", b"")
            if message.get("more_body"):
                return
            code = held["status"]
            text = held["body"].decode("utf-8", "replace").strip()
            err = (ApiError(400, "bad_range", f"malformed Range header: {text or 'invalid'}")
                   if code == 400 else
                   ApiError(416, "range_not_satisfiable", "the Range is outside the file"))
            body = json.dumps(err.body()).encode()
            await send({"type": "http.response.start", "status": code, "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()), *held["headers"]]})
            await send({"type": "http.response.body", "body": body})

        await super().__call__(scope, receive, json_range_errors)


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
                         "min_sample_rate": s.min_sample_rate,
                         "max_references": MAX_REFERENCES,
                         "max_reference_bytes": MAX_REFERENCE_BYTES,
                         "max_concept_chars": MAX_CONCEPT_CHARS,
                         "api_key_required": s.api_key is not None})


async def openapi(request: Request) -> JSONResponse:
    return JSONResponse(request.app.state.openapi)


def _check_capacity(st: ServerState, incoming: int = 0) -> None:
    """503 when the queue is full, 507 when the data directory's disk is nearly full."""
    s = st.settings
    queued = st.store.count("queued")
    if queued >= s.max_queued:
        raise ApiError(503, "queue_full",
                       f"the server has {queued} jobs waiting, its limit; try again later",
                       headers={"Retry-After": "60"}, limit="max_queued",
                       max_queued=s.max_queued)
    free = shutil.disk_usage(s.data_dir).free
    if free - incoming < s.min_free_bytes:
        raise insufficient_storage(f"{free // (1024 * 1024)} MB free, the server keeps "
                                   f"{s.min_free_bytes // (1024 * 1024)} MB")


async def start(request: Request) -> Response:
    st = _state(request)
    s = st.settings
    length = request.headers.get("content-length", "")
    _check_capacity(st, int(length) if length.isdigit() else 0)
    if st.uploads >= s.max_concurrent_uploads:
        raise ApiError(503, "too_many_uploads",
                       f"the server is receiving {st.uploads} uploads, its limit; try again "
                       "in a moment", headers={"Retry-After": "10"},
                       limit="max_concurrent_uploads",
                       max_concurrent_uploads=s.max_concurrent_uploads)
    st.uploads += 1
    try:
        upload = await read_form(request, s.data_dir / "uploads", file_field="audio",
                                 allowed=FORM_FIELDS, max_bytes=s.max_upload_bytes,
                                 min_rate=s.upload_min_rate, grace_s=s.upload_grace_s,
                                 extra_files={"reference": (MAX_REFERENCES,
                                                            MAX_REFERENCE_BYTES)},
                                 blobs={"lyrics": LYRICS_MAX_BYTES})
    except ClientDisconnect:
        return Response(status_code=400)
    finally:
        st.uploads -= 1
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
                                       s.max_duration_s, s.min_sample_rate)
        if lyrics is not None:
            _check_lyrics(lyrics[1], info.duration)
        refs = upload.extra.get("reference", [])
        exts = [await run_in_threadpool(validate_reference, p) for p in refs]
        _check_capacity(st)  # again: other uploads may have filled the queue meanwhile
        job_id = str(uuid.uuid4())
        folder = job_dir(s.data_dir, job_id)
        if refs:
            job["reference"] = [folder / "reference" / f"{i}{e}" for i, e in enumerate(exts)]
        if lyrics is not None:
            job["lyrics"] = folder / "lyrics.txt"
        config = RenderConfig.create(profile=s.profile, **{**s.render_config_kwargs(), **job})
        try:
            folder.mkdir(mode=0o700, parents=True)
            if lyrics is not None:
                (folder / "lyrics.txt").write_bytes(lyrics[0])
            upload.file.replace(folder / "audio")
            upload.file = None
            store_references(list(zip(refs, exts, strict=True)), folder)
            upload.extra.clear()
            st.store.create(job_id, genre=genre, style=style, palette=palette, seed=seed,
                            filename=upload.filename, duration_s=info.duration,
                            config=config.to_dict())
        except BaseException as exc:
            shutil.rmtree(folder, ignore_errors=True)
            if disk_full(exc):
                log.warning("a job could not be stored: the disk is full (%s)", exc)
                raise insufficient_storage() from None
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
    return VideoResponse(path, media_type="video/mp4",
                        filename=f"musicvid-{job.id[:8]}.mp4",
                        content_disposition_type="attachment" if download else "inline")


async def storyboard(request: Request) -> JSONResponse:
    st = _state(request)
    job = _get_job(request)
    view = await run_in_threadpool(storyboard_view, job_dir(st.settings.data_dir, job.id),
                                   job.id)
    if view is None:
        raise ApiError(409, "not_planned",
                       f"the job has no storyboard yet (state {job.state})", state=job.state)
    view["state"] = job.state
    key = st.settings.api_key
    if key:  # thumbnails open in <img>, which cannot send the key: signed links
        token = sign(key, job.id, st.settings.signed_url_ttl_s)
        for shot in view["shots"]:
            if shot["keyframe_url"]:
                shot["keyframe_url"] += f"&token={token}"
    return JSONResponse(view, headers={"Cache-Control": "no-store"})


async def keyframe(request: Request) -> Response:
    st = _state(request)
    job = _get_job(request)
    shot = _int_param(request, "shot", -1, 0, 1_000_000)
    if shot < 0:
        raise ApiError(422, "missing_field", "the query parameter shot is required",
                       missing=["shot"])
    png = await run_in_threadpool(keyframe_thumbnail, job_dir(st.settings.data_dir, job.id),
                                  shot)
    if png is None:
        raise ApiError(404, "not_found", "no keyframe for this shot (yet)")
    return Response(png, media_type="image/png", headers={"Cache-Control": "max-age=3600"})


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
    """Cancel, then wait up to ``cancel_wait_s`` for a running job to stop, and answer
    with the state it really ended in (it may have finished before the cancel took
    effect): 200 once final, 202 while it is still stopping."""
    st = _state(request)
    job = _get_job(request)
    if job.state in ("succeeded", "failed"):
        raise ApiError(409, "already_finished", f"the job already {job.state}",
                       state=job.state)
    try:
        after = st.store.request_cancel(job.id)  # first the flag, then the job's event
    except Exception as exc:
        if disk_full(exc):
            raise insufficient_storage() from None
        raise
    st.worker.cancel(job.id)
    if after is None:  # pragma: no cover - rows are never deleted
        raise ApiError(404, "not_found", "no job with this id")
    if job.state == "queued" and after.state == "canceled":  # it never ran: drop the upload
        shutil.rmtree(job_dir(st.settings.data_dir, job.id), ignore_errors=True)
    deadline = time.monotonic() + st.settings.cancel_wait_s
    while after.state == "running":
        if not st.worker.has_job(job.id):  # no worker on it: settle it now
            with contextlib.suppress(Exception):
                await run_in_threadpool(st.worker.reconcile)
        latest = st.store.get(job.id)
        after = latest if latest is not None else after
        if after.state != "running" or time.monotonic() >= deadline:
            break
        await anyio.sleep(0.05)
    return JSONResponse(_status_json(st, after),
                        status_code=202 if after.state == "running" else 200)


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
                yield f"event: status\ndata: {json.dumps(_status_json(st, job, position))}\n\n"
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
    return JSONResponse({"jobs": [_status_json(st, j, positions.get(j.id)) for j in page_],
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

    routes = [
        Route("/", page, methods=["GET"]),
        Route("/api/health", health, methods=["GET"]),
        Route("/api/options", options, methods=["GET"]),
        Route("/api/generate/start", start, methods=["POST"]),
        Route("/api/generate/status", status, methods=["GET"]),
        Route("/api/generate/result", result, methods=["GET"]),
        Route("/api/generate/cancel", cancel, methods=["POST"]),
        Route("/api/generate/storyboard", storyboard, methods=["GET"]),
        Route("/api/generate/keyframe", keyframe, methods=["GET"]),
        Route("/api/generate/lyrics", lyrics, methods=["GET"]),
        Route("/api/generate/events", events, methods=["GET"]),
        Route("/api/jobs", jobs, methods=["GET"]),
        Route("/openapi.json", openapi, methods=["GET"]),
        Mount("/static", StaticFiles(directory=STATIC_DIR), name="static"),
    ]
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
