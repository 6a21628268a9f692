"""What a hostile page, a full disk or a hostile client can still do to the server; the
HTTP-level cases go through a real uvicorn socket."""

import errno
import json
import socket
import threading
import urllib.error
import urllib.request
import uuid

import pytest
from server_support import FINAL, SMALL, GatedKeyframes, running_server, wait_for

from musicvid.plugins import get_plugin_manager
from musicvid_server import ServerSettings, create_app

FIELDS = {"genre": "rock", "style": "cinematic", "palette": "warm"}


@pytest.fixture
def song(click):
    path, _ = click(duration=4.0, name="song.wav")
    return path


def multipart(fields, content, filename="song.wav", boundary=None):
    boundary = boundary or uuid.uuid4().hex
    parts = [f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode()
             for k, v in fields.items()]
    parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="audio"; '
                 f'filename="{filename}"\r\nContent-Type: application/octet-stream\r\n\r\n'
                 .encode() + content + b"\r\n")
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


def request(url, path, method="GET", body=None, headers=None):
    """(status, headers, parsed JSON or bytes) through a real socket."""
    req = urllib.request.Request(url + path, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            code, hdrs, raw = r.status, r.headers, r.read()
    except urllib.error.HTTPError as e:
        code, hdrs, raw = e.code, e.headers, e.read()
    if hdrs.get("content-type", "").startswith("application/json"):
        return code, hdrs, json.loads(raw)
    return code, hdrs, raw


def post_song(url, song, headers=None, **fields):
    body, ctype = multipart(dict(FIELDS, **fields), song.read_bytes())
    return request(url, "/api/generate/start", "POST", body,
                   {"Content-Type": ctype, **(headers or {})})


def app_for(tmp_path, keyframes="solid", **kw):
    return create_app(ServerSettings(data_dir=tmp_path / "data",
                                     render_options=dict(SMALL, keyframes=keyframes), **kw))


def jobs_total(url, **headers):
    return request(url, "/api/jobs", headers=headers)[2]["total"]


# -- 1. cross-site request forgery --------------------------------------------------------
def test_state_changing_requests_from_other_origins_are_refused(server_stages, song, tmp_path):
    app = app_for(tmp_path, allowed_origins=["https://videos.example.com"])
    with running_server(app) as url:
        own = url  # http://127.0.0.1:PORT
        for headers in ({"Origin": "https://evil.example"},
                        {"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"},
                        {"Sec-Fetch-Site": "cross-site"},
                        {"Origin": "null"},
                        {"Origin": own.replace("127.0.0.1", "localhost")},
                        {"Origin": own.rsplit(":", 1)[0] + ":1"}):
            code, _, body = post_song(url, song, headers)
            assert code == 403 and body["error"] == "cross_origin", (headers, body)
            code, _, body = request(url, f"/api/generate/cancel?job_id={uuid.uuid4()}", "POST",
                                    headers=headers)
            assert code == 403, headers
        assert jobs_total(url) == 0
        # reading stays open to any page (the API key guards it when set)
        assert request(url, "/api/health", headers={"Origin": "https://evil.example"})[0] == 200
        # its own page, an allowed origin, and clients that send no Origin (curl) work
        for headers in ({"Origin": own, "Sec-Fetch-Site": "same-origin"},
                        {"Origin": "https://videos.example.com"}, {}):
            code, _, body = post_song(url, song, headers)
            assert code == 200, (headers, body)
        assert jobs_total(url) == 3


# -- 2. limits on queued work -------------------------------------------------------------
def wav_bytes(rate, frames):
    import io
    import wave

    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(b"\x01\x00" * frames)
    return buf.getvalue()


def test_queue_cap_disk_floor_sample_rate_and_duration_limits(server_stages, song, tmp_path,
                                                              monkeypatch):
    app = app_for(tmp_path, keyframes="gated", max_queued=2, max_duration_s=3.5)
    with running_server(app) as url:
        one_hz = tmp_path / "one-hz.wav"
        one_hz.write_bytes(wav_bytes(1, 1800))  # 3.6 kB that "last" 30 minutes
        code, _, body = post_song(url, one_hz)
        assert code == 422 and body["error"] == "invalid_audio", body
        assert body["limit"] == "min_sample_rate" and body["min_sample_rate"] == 8000
        code, _, body = post_song(url, song)  # 4 s, over the 3.5 s limit
        assert code == 422 and body["limit"] == "max_duration_s", body

        short = tmp_path / "short.wav"
        short.write_bytes(wav_bytes(8000, 16000))  # 2 s at 8 kHz: fine
        first = post_song(url, short)[2]["job_id"]
        wait_for(lambda: GatedKeyframes.entered == 1)  # running; the next two wait
        assert [post_song(url, short, seed=str(i))[0] for i in range(2)] == [200, 200]
        code, headers, body = post_song(url, short)
        assert code == 503 and body["error"] == "queue_full" and body["max_queued"] == 2
        assert int(headers["Retry-After"]) > 0

        monkeypatch.setattr(app.state.settings, "min_free_bytes", 10**18)  # "disk nearly full"
        monkeypatch.setattr(app.state.settings, "max_queued", 10)
        code, headers, body = post_song(url, short)
        assert code == 507 and body["error"] == "insufficient_storage", body
        assert jobs_total(url) == 3
        assert not list((tmp_path / "data" / "uploads").glob("*"))
        GatedKeyframes.gate.set()
        wait_for(lambda: request(url, f"/api/generate/status?job_id={first}")[2]["state"]
                 in FINAL)


def test_settings_refuse_non_finite_and_out_of_range_limits(tmp_path, monkeypatch):
    from musicvid import InvalidOptionError
    from musicvid.cli import build_parser
    from musicvid_server.settings import settings_from_args

    def parse(*argv):
        return settings_from_args(build_parser().parse_args(["serve", *argv]))

    for argv in (["--max-upload-mb", "nan"], ["--max-upload-mb", "inf"],
                 ["--result-ttl-hours", "nan"], ["--result-ttl-hours", "inf"],
                 ["--result-ttl-hours", "1e-9"], ["--max-queued", "0"],
                 ["--min-sample-rate", "-5"], ["--upload-min-rate-kb", "nan"],
                 ["--max-duration-min", "inf"]):
        with pytest.raises(InvalidOptionError, match=argv[0]):
            parse(*argv)
    monkeypatch.setenv("MUSICVID_RESULT_TTL_HOURS", "nan")
    with pytest.raises(InvalidOptionError, match="MUSICVID_RESULT_TTL_HOURS"):
        parse()
    monkeypatch.delenv("MUSICVID_RESULT_TTL_HOURS")
    for name, value in (("MUSICVID_MAX_QUEUED", "7"), ("MUSICVID_MIN_FREE_MB", "2"),
                        ("MUSICVID_MAX_CONCURRENT_UPLOADS", "3"),
                        ("MUSICVID_LIMIT_CONCURRENCY", "9"),
                        ("MUSICVID_ALLOWED_ORIGINS", "https://a.example")):
        monkeypatch.setenv(name, value)
    s = parse("--min-sample-rate", "16000", "--max-duration-min", "10",
              "--upload-min-rate-kb", "4", "--upload-grace-s", "3", "--cancel-wait-s", "1",
              "--signed-url-ttl-min", "30")
    assert (s.max_queued, s.min_free_bytes, s.max_concurrent_uploads, s.limit_concurrency,
            s.min_sample_rate, s.max_duration_s, s.upload_min_rate, s.upload_grace_s,
            s.cancel_wait_s, s.signed_url_ttl_s) == (7, 2 * 1024 * 1024, 3, 9, 16000, 600.0,
                                                     4096, 3.0, 1.0, 1800.0)
    assert s.allowed_origins == ["https://a.example"]
    assert s.uvicorn_options() == {"limit_concurrency": 9}


# -- 3. slow bodies -----------------------------------------------------------------------
def _held_upload(url, song):
    """A socket that sent the request head and part of the song, and then nothing."""
    body, ctype = multipart(FIELDS, song.read_bytes())
    port = int(url.rsplit(":", 1)[1])
    sock = socket.create_connection(("127.0.0.1", port), timeout=60)
    sock.sendall(f"POST /api/generate/start HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
                 f"Content-Type: {ctype}\r\nContent-Length: {len(body)}\r\n\r\n".encode()
                 + body[:len(body) // 2])
    return sock


def _response_of(sock):
    data = b""
    while b"\r\n\r\n" not in data or not data.rstrip().endswith(b"}"):
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split()[1]), json.loads(body)


def test_a_stalled_upload_is_cut_off(server_stages, song, tmp_path):
    app = app_for(tmp_path, upload_grace_s=0.2, upload_min_rate=64 * 1024)
    with running_server(app) as url:
        sock = _held_upload(url, song)
        try:
            code, body = _response_of(sock)  # waits for the server: no answer fails here
        finally:
            sock.close()
        assert code == 408 and body["error"] == "request_timeout", body
        assert not list((tmp_path / "data" / "uploads").glob("*.part"))
        assert post_song(url, song)[0] == 200  # a brisk upload is fine


def test_concurrent_uploads_are_capped_and_health_stays_up(server_stages, song, tmp_path):
    app = app_for(tmp_path, max_concurrent_uploads=2, upload_min_rate=0)
    uploads = tmp_path / "data" / "uploads"
    with running_server(app) as url:
        held = [_held_upload(url, song) for _ in range(2)]
        try:
            wait_for(lambda: len(list(uploads.glob("*.part"))) == 2)
            code, headers, body = post_song(url, song)
            assert code == 503 and body["error"] == "too_many_uploads", body
            assert body["max_concurrent_uploads"] == 2 and int(headers["Retry-After"]) > 0
            assert request(url, "/api/health")[0] == 200
        finally:
            for sock in held:
                sock.close()
        wait_for(lambda: not list(uploads.glob("*.part")))  # given up: deleted
        assert post_song(url, song)[0] == 200


def test_connections_beyond_the_limit_are_answered_503(server_stages, tmp_path):
    settings = ServerSettings(data_dir=tmp_path / "data", limit_concurrency=2,
                              render_options=dict(SMALL, keyframes="solid"))
    with running_server(create_app(settings), **settings.uvicorn_options()) as url:
        port = int(url.rsplit(":", 1)[1])
        idle = [socket.create_connection(("127.0.0.1", port)) for _ in range(2)]
        try:
            wait_for(lambda: request(url, "/api/health")[0] == 503)
        finally:
            for sock in idle:
                sock.close()
        wait_for(lambda: request(url, "/api/health")[0] == 200)


# -- 8. a full disk during the upload -----------------------------------------------------
def test_a_full_disk_during_the_upload_answers_507(server_stages, song, tmp_path, monkeypatch):
    import musicvid_server.uploads as uploads_mod

    real_open = uploads_mod.upload_open

    class FullDisk:
        def __init__(self, f):
            self.f, self.written = f, 0

        def write(self, data):
            self.written += len(data)
            if self.written > 10_000:
                raise OSError(errno.ENOSPC, "No space left on device")
            return self.f.write(data)

        def close(self):
            self.f.close()

    monkeypatch.setattr(uploads_mod, "upload_open", lambda p: FullDisk(real_open(p)))
    app = app_for(tmp_path)
    with running_server(app) as url:
        code, headers, body = post_song(url, song)
        assert code == 507 and body["error"] == "insufficient_storage", body
        assert not list((tmp_path / "data" / "uploads").glob("*"))
        monkeypatch.setattr(uploads_mod, "upload_open", real_open)
        assert post_song(url, song)[0] == 200


# -- 5. a database that stops writing -----------------------------------------------------
class DiskFull:
    """Makes the job store's writes raise ENOSPC while ``full`` is set (reads work)."""

    def __init__(self, store):
        import contextlib

        self.full = False
        self.refused = 0
        real_tx = store._tx

        @contextlib.contextmanager
        def tx():
            if self.full:
                self.refused += 1
                raise OSError(errno.ENOSPC, "No space left on device")
            with real_tx() as db:
                yield db

        store._tx = tx


def job_status(url, job_id):
    return request(url, f"/api/generate/status?job_id={job_id}")[2]


class GatedBroken(GatedKeyframes):
    """Waits for the gate like ``gated``, then fails as a bug would (so it is retried)."""

    name = "gated-broken"

    def generate(self, shots, ctx):
        super().generate(shots, ctx)
        raise RuntimeError("CUDA out of memory (simulated)")


class GatedBrokenPlugin:
    from musicvid import hookimpl

    @hookimpl
    def register_keyframe_generators(self, register):
        register(GatedBroken)


@pytest.mark.parametrize("keyframes, final", [("gated", "succeeded"),
                                              ("gated-broken", "failed")])
def test_a_full_disk_mid_render_never_strands_a_job(server_stages, song, tmp_path, keyframes, final):
    """ENOSPC on every database write from mid-render on: progress, the final state (or
    the requeue after a crash); then the space comes back."""
    get_plugin_manager().register(GatedBrokenPlugin(), name="gated-broken")
    GatedBroken.entered = 0
    app = app_for(tmp_path, keyframes=keyframes, reconcile_interval_s=0.05, max_attempts=2)
    with running_server(app) as url:
        state = app.state.server
        job_id = post_song(url, song, seed="2")[2]["job_id"]
        wait_for(lambda: GatedKeyframes.entered + GatedBroken.entered == 1)
        queued = post_song(url, song, seed="3")[2]["job_id"]
        disk = DiskFull(state.store)
        disk.full = True
        GatedKeyframes.gate.set()
        wait_for(lambda: state.worker.unsaved == [job_id])  # decided, not yet written
        assert job_status(url, job_id)["state"] == "running"  # reads still work
        seen = disk.refused
        wait_for(lambda: disk.refused > seen + 3)  # the janitor keeps trying
        disk.full = False
        done = wait_for(lambda: (s := job_status(url, job_id))["state"] in FINAL and s)
        assert done["state"] == final, done
        assert done["attempts"] == (1 if final == "succeeded" else 2)
        assert wait_for(lambda: state.worker.unsaved == [])  # the final write is retried
        # nothing else lost: the job queued meanwhile runs to its end too
        other = wait_for(lambda: (s := job_status(url, queued))["state"] in FINAL and s)
        assert other["state"] == final
        if final == "succeeded":
            assert request(url, done["result_url"])[0] == 200
            assert request(url, other["result_url"])[0] == 200


@pytest.mark.parametrize("how", ["janitor", "cancel"])
def test_a_running_row_without_a_worker_is_recovered_without_a_restart(server_stages, song,
                                                                        tmp_path, how):
    """A job left 'running' with no worker on it (its final write lost) resumes; a
    cancel of such a job ends it at once instead of answering 'canceling' for ever."""
    import time

    from musicvid import RenderConfig

    app = app_for(tmp_path, reconcile_interval_s=0.05 if how == "janitor" else 3600)
    with running_server(app) as url:
        store = app.state.server.store
        config = RenderConfig.create(**dict(SMALL, keyframes="solid"), seed=3).to_dict()
        job_id = str(uuid.uuid4())
        folder = tmp_path / "data" / "jobs" / job_id
        folder.mkdir(parents=True)
        (folder / "audio").write_bytes(song.read_bytes())
        with store._lock:  # as a lost final write leaves it: running, no worker
            now = time.time()
            store._db.execute(
                "INSERT INTO jobs (id, state, message, genre, style, palette, seed, config, "
                "attempts, created, updated, started) VALUES (?, 'running', 'keyframe (1/2)', "
                "'pop', 'cinematic', 'warm', 3, ?, 1, ?, ?, ?)",
                (job_id, json.dumps(config), now, now, now))
        if how == "cancel":
            code, _, body = request(url, f"/api/generate/cancel?job_id={job_id}", "POST")
            assert code == 200 and body["state"] == "canceled", body
            assert not folder.exists()
        else:
            done = wait_for(lambda: (s := job_status(url, job_id))["state"] in FINAL and s)
            assert done["state"] == "succeeded" and done["attempts"] == 2, done


# -- 13. a cancel that comes too late says so ---------------------------------------------
def test_a_cancel_after_the_last_step_reports_the_real_final_state(server_stages, song, tmp_path,
                                                                   monkeypatch):
    import musicvid_server.worker as worker_mod

    finished_render = threading.Event()
    release = threading.Event()
    real_render = worker_mod.Pipeline.render

    def render_then_wait(self, *args, **kw):
        result = real_render(self, *args, **kw)  # past every cancellation check
        finished_render.set()
        release.wait(60)
        return result

    monkeypatch.setattr(worker_mod.Pipeline, "render", render_then_wait)
    app = app_for(tmp_path, cancel_wait_s=60)
    with running_server(app) as url:
        job_id = post_song(url, song)[2]["job_id"]
        finished_render.wait(60)
        answer = {}
        t = threading.Thread(target=lambda: answer.update(r=request(
            url, f"/api/generate/cancel?job_id={job_id}", "POST")))
        t.start()
        wait_for(lambda: app.state.server.store.get(job_id).cancel_requested)
        release.set()
        t.join(60)
        code, _, body = answer["r"]
        assert code == 200 and body["state"] == "succeeded", body
        assert "before the cancel" in body["message"]
        assert job_status(url, job_id)["state"] == "succeeded"


def test_a_cancel_that_cannot_finish_in_time_answers_202(server_stages, song, tmp_path):
    app = app_for(tmp_path, keyframes="gated", cancel_wait_s=0)
    with running_server(app) as url:
        job_id = post_song(url, song)[2]["job_id"]
        wait_for(lambda: GatedKeyframes.entered == 1)
        code, _, body = request(url, f"/api/generate/cancel?job_id={job_id}", "POST")
        assert code in (200, 202) and body["state"] in ("running", "canceled")
        assert (code == 202) == (body["state"] == "running")
        assert wait_for(lambda: job_status(url, job_id)["state"] in FINAL)
        assert job_status(url, job_id)["state"] == "canceled"


# -- 12. a partial video left by a kill is removed when the job resumes --------------------
def test_a_partial_video_from_a_killed_compositor_is_cleaned_on_resume(server_stages, song, tmp_path):
    from musicvid_server.store import JobStore

    data = tmp_path / "data"
    store = JobStore(data / "jobs.sqlite3")
    from musicvid import RenderConfig

    job_id = str(uuid.uuid4())
    store.create(job_id, genre="pop", style="cinematic", palette="warm", seed=3,
                 filename="song.wav", duration_s=4.0,
                 config=RenderConfig.create(**dict(SMALL, keyframes="solid"), seed=3).to_dict())
    folder = data / "jobs" / job_id
    folder.mkdir(parents=True)
    (folder / "audio").write_bytes(song.read_bytes())
    store.claim_next()  # running when the server was killed
    store.close()
    stale = folder / ".video.part4242-1234.mp4"
    stale.write_bytes(b"\x00" * 100_000)
    with running_server(app_for(tmp_path)) as url:
        done = wait_for(lambda: (s := job_status(url, job_id))["state"] in FINAL and s)
        assert done["state"] == "succeeded"
    assert not stale.exists()
    assert sorted(p.name for p in folder.iterdir()) == [
        "keyframes.json", "storyboard.json", "video.mp4", "video.sync.json"]  # + the view


# -- 11. no API key in URLs or logs -------------------------------------------------------
KEY = "a-long-enough-api-key-0123456789"


def test_status_gives_signed_links_that_open_only_that_job(server_stages, song, tmp_path):
    import logging
    import time

    from musicvid_server import tokens

    lines = []

    class Collect(logging.Handler):
        def emit(self, record):
            lines.append(self.format(record))

    access = logging.getLogger("uvicorn.access")
    handler = Collect()
    app = app_for(tmp_path, api_key=KEY, signed_url_ttl_s=600)
    auth = {"Authorization": f"Bearer {KEY}"}
    try:
        with running_server(app, log_level="info", access_log=True) as url:
            access.addHandler(handler)
            jobs = [post_song(url, song, auth, seed=str(i))[2]["job_id"] for i in range(2)]
            done = [wait_for(lambda j=j: (s := request(url, f"/api/generate/status?job_id={j}",
                                                       headers=auth)[2])["state"] in FINAL and s)
                    for j in jobs]
            a, b = done
            for job in done:
                assert "token=" in job["result_url"] and KEY not in job["result_url"]
                assert "token=" in job["events_url"] and KEY not in job["events_url"]
            # the signed links work without the key...
            code, headers, video = request(url, a["result_url"])
            assert code == 200 and headers["content-type"] == "video/mp4" and len(video) > 1000
            code, _, stream = request(url, a["events_url"])
            assert code == 200 and b"event: end" in stream
            # ... but only for their own job and endpoints, and not once expired
            token = a["result_url"].split("token=")[1]
            assert request(url, f"/api/generate/result?job_id={b['job_id']}&token={token}")[0] \
                == 401
            assert request(url, f"/api/generate/status?job_id={a['job_id']}&token={token}")[0] \
                == 401
            assert request(url, f"/api/jobs?token={token}")[0] == 401
            expired = tokens.sign(KEY, a["job_id"], -10)
            assert request(url, f"/api/generate/result?job_id={a['job_id']}&token={expired}")[0] \
                == 401
            forged = f"{int(time.time()) + 5000}.{token.split('.')[1]}"  # a later expiry
            assert request(url, f"/api/generate/result?job_id={a['job_id']}&token={forged}")[0] \
                == 401
            # scripts may still send ?access_token=KEY: it works and is not logged
            assert request(url, f"/api/jobs?access_token={KEY}")[0] == 200
    finally:
        access.removeHandler(handler)
    logged = "\n".join(lines)
    assert "/api/generate/result" in logged and "token=REDACTED" in logged
    assert "access_token=REDACTED" in logged
    assert KEY not in logged and token not in logged


def test_the_redaction_filter_covers_uvicorn_access_records():
    import logging

    from musicvid_server.tokens import RedactSecrets

    record = logging.LogRecord("uvicorn.access", logging.INFO, __file__, 1,
                               '%s - "%s %s HTTP/%s" %d',
                               ("127.0.0.1:5", "GET", f"/api/jobs?access_token={KEY}&x=1",
                                "1.1", 200), None)
    assert RedactSecrets().filter(record)
    assert record.getMessage() == ('127.0.0.1:5 - "GET /api/jobs?access_token=REDACTED&x=1 '
                                   'HTTP/1.1" 200')


# -- 13. the small ones -------------------------------------------------------------------
def test_range_errors_are_json(server_stages, song, tmp_path):
    with running_server(app_for(tmp_path)) as url:
        job_id = post_song(url, song)[2]["job_id"]
        wait_for(lambda: job_status(url, job_id)["state"] in FINAL)
        path = f"/api/generate/result?job_id={job_id}"
        code, headers, body = request(url, path, headers={"Range": "bytes=999999999-"})
        assert code == 416 and body["error"] == "range_not_satisfiable", body
        assert headers["content-range"].startswith("bytes */")
        for bad in ("bytes=5-1", "lines=1-2", "bytes=x"):
            code, headers, body = request(url, path, headers={"Range": bad})
            assert code == 400 and body["error"] == "bad_range" and body["message"], bad
            assert headers["content-type"] == "application/json"
        code, _, data = request(url, path, headers={"Range": "bytes=0-9"})
        assert code == 206 and len(data) == 10


def test_non_ascii_digits_are_not_numbers(server_stages, song, tmp_path):
    with running_server(app_for(tmp_path)) as url:
        for seed in ("٧", "７", "𝟕", "1٢"):
            code, _, body = post_song(url, song, seed=seed)
            assert code == 422 and body["field"] == "seed", (seed, body)
        from urllib.parse import quote

        for name, value in (("limit", "٥"), ("offset", "٣")):
            assert request(url, f"/api/jobs?{name}={quote(value)}")[0] == 422
        assert jobs_total(url) == 0


@pytest.mark.skipif(__import__("os").name == "nt", reason="POSIX file modes")
def test_data_files_are_private_to_the_servers_user(server_stages, song, tmp_path):
    import os
    import stat

    old = os.umask(0o022)
    try:
        app = app_for(tmp_path, max_concurrent_uploads=4, upload_min_rate=0)
        data = tmp_path / "data"
        with running_server(app) as url:
            held = _held_upload(url, song)
            try:
                part = wait_for(lambda: list((data / "uploads").glob("*.part")))[0]
                part_mode = stat.S_IMODE(part.stat().st_mode)
            finally:
                held.close()
            job_id = post_song(url, song)[2]["job_id"]
            wait_for(lambda: job_status(url, job_id)["state"] in FINAL)
            modes = {p.relative_to(data).as_posix(): stat.S_IMODE(p.stat().st_mode)
                     for p in [data, data / "jobs", data / "uploads", data / "jobs" / job_id,
                               data / "jobs.sqlite3", data / "jobs.sqlite3-wal",
                               data / "server.lock", data / "jobs" / job_id / "video.mp4"]}
    finally:
        os.umask(old)
    assert part_mode == 0o600
    dirs = {".", "jobs", "uploads", f"jobs/{job_id}"}
    assert modes == {k: 0o700 if k in dirs else 0o600 for k in modes}, modes
