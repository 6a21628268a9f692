"""The routes that change jobs (POST): ``start`` receives a song and its form, checks
them and queues a job; ``cancel`` stops one. Both refuse work the server has no room
for: a full queue (503) or a nearly full disk (507)."""

from __future__ import annotations

import contextlib
import logging
import shutil
import time
import uuid
from typing import Any

import anyio
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response

from musicvid import RenderConfig

from .direction import MAX_REFERENCE_BYTES, MAX_REFERENCES, store_references, validate_reference
from .errors import ApiError
from .parsing import (
    FORM_FIELDS,
    LYRICS_MAX_BYTES,
    REQUIRED_FIELDS,
    check_lyrics,
    get_job,
    lyrics_json,
    parse_job_fields,
    parse_lyrics_upload,
)
from .state import ServerState, server_state, status_json
from .store import job_dir
from .uploads import disk_full, insufficient_storage, read_form, validate_audio

__all__ = ["cancel", "check_capacity", "start"]

log = logging.getLogger(__name__)


def check_capacity(st: ServerState, incoming: int = 0) -> None:
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
    st = server_state(request)
    s = st.settings
    length = request.headers.get("content-length", "")
    check_capacity(st, int(length) if length.isdigit() else 0)
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
        lyrics = parse_lyrics_upload(upload)
        assert upload.file is not None
        info = await run_in_threadpool(validate_audio, upload.file, s.min_duration_s,
                                       s.max_duration_s, s.min_sample_rate)
        if lyrics is not None:
            check_lyrics(lyrics[1], info.duration)
        refs = upload.extra.get("reference", [])
        exts = [await run_in_threadpool(validate_reference, p) for p in refs]
        check_capacity(st)  # again: other uploads may have filled the queue meanwhile
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
        body["lyrics"] = lyrics_json(lyrics[1])
    return JSONResponse(body, headers={"Location": f"/api/generate/status?job_id={job_id}"})


async def cancel(request: Request) -> JSONResponse:
    """Cancel, then wait up to ``cancel_wait_s`` for a running job to stop, and answer
    with the state it really ended in (it may have finished before the cancel took
    effect): 200 once final, 202 while it is still stopping."""
    st = server_state(request)
    job = get_job(request)
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
    return JSONResponse(status_json(st, after),
                        status_code=202 if after.state == "running" else 200)
