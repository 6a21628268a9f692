"""The read-only routes (GET): the web page, health, options and this server's OpenAPI
document; a job's status, video (with Range), storyboard, keyframe thumbnails, lyrics
and event stream; and the list of jobs."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response, StreamingResponse
from starlette.types import Receive, Scope, Send

from musicvid.config import CAPTION_MODES, MAX_CONCEPT_CHARS, Genre, Palette, Style

from .direction import MAX_REFERENCE_BYTES, MAX_REFERENCES, keyframe_thumbnail, storyboard_view
from .errors import ApiError
from .parsing import LYRICS_MAX_BYTES, MAX_OFFSET, get_job, int_param, lyrics_json
from .state import server_state, status_json
from .store import FINAL_STATES, STATES, job_dir
from .tokens import sign

__all__ = ["STATIC_DIR", "VideoResponse", "events", "health", "jobs", "keyframe", "lyrics",
           "openapi", "options", "page", "result", "status", "storyboard"]

STATIC_DIR = Path(__file__).parent / "static"


async def page(request: Request) -> Response:
    return FileResponse(STATIC_DIR / "index.html", media_type="text/html",
                        headers={"Cache-Control": "no-cache"})


async def health(request: Request) -> JSONResponse:
    return JSONResponse({"status": "ok"})


async def options(request: Request) -> JSONResponse:
    s = server_state(request).settings
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


async def status(request: Request) -> JSONResponse:
    return JSONResponse(status_json(server_state(request), get_job(request)),
                        headers={"Cache-Control": "no-store"})


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


async def result(request: Request) -> Response:
    st = server_state(request)
    job = get_job(request)
    download = int_param(request, "download", 0, 0, 1)
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
    st = server_state(request)
    job = get_job(request)
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
    st = server_state(request)
    job = get_job(request)
    shot = int_param(request, "shot", -1, 0, 1_000_000)
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

    st = server_state(request)
    job = get_job(request)
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
    return JSONResponse(lyrics_json(used))


async def events(request: Request) -> Response:
    st = server_state(request)
    job_id = get_job(request).id
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
                yield f"event: status\ndata: {json.dumps(status_json(st, job, position))}\n\n"
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
    st = server_state(request)
    limit = int_param(request, "limit", 20, 1, 100)
    offset = int_param(request, "offset", 0, 0, MAX_OFFSET)
    state = request.query_params.get("state")
    if state is not None and state not in STATES:
        raise ApiError(422, "invalid_option", f"invalid state: {state[:32]!r}", field="state",
                       valid=list(STATES))
    page_, total = st.store.list_jobs(limit, offset, state)
    positions = st.store.queued_positions()
    return JSONResponse({"jobs": [status_json(st, j, positions.get(j.id)) for j in page_],
                         "total": total, "limit": limit, "offset": offset,
                         "next_offset": offset + limit if offset + limit < total else None})
