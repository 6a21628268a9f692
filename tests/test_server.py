"""The job API through Starlette's TestClient, with fake stages (jobs finish in well
under a second)."""

import io
import json
import os
import sqlite3
import subprocess
import sys
import threading
import time
import tracemalloc
import uuid

import av
import pytest
from server_support import FINAL, SMALL, BrokenKeyframes, GatedKeyframes, wait_for
from starlette.testclient import TestClient

from musicvid import InvalidOptionError, MusicVidError
from musicvid.config import Genre, Palette, Style
from musicvid.testing import SolidKeyframes
from musicvid_server import ServerSettings, create_app
from musicvid_server.process import DataDirBusy
from musicvid_server.store import JobStore
from musicvid_server.worker import ProgressTracker

FIELDS = {"genre": "rock", "style": "cinematic", "palette": "warm"}


@pytest.fixture
def make_client(tmp_path, server_stages):
    """``make_client(keyframes="solid", **settings)`` -> a started TestClient."""
    clients = []

    def make(keyframes="solid", data_dir=None, render=None, **kw):
        settings = ServerSettings(data_dir=data_dir or tmp_path / "data",
                                  render_options=dict(SMALL, keyframes=keyframes, **(render or {})),
                                  **kw)
        client = TestClient(create_app(settings), base_url="http://127.0.0.1")
        client.__enter__()
        clients.append(client)
        return client

    yield make
    GatedKeyframes.gate.set()
    for c in reversed(clients):
        c.__exit__(None, None, None)


@pytest.fixture
def song(click):
    path, _ = click(duration=4.0, name="song.wav")
    return path


def submit(client, audio, filename="song.wav", **fields):
    data = dict(FIELDS, **fields)
    data = {k: v for k, v in data.items() if v is not None}
    content = audio.read_bytes() if hasattr(audio, "read_bytes") else audio
    return client.post("/api/generate/start", data=data,
                       files={"audio": (filename, content, "application/octet-stream")})


def status(client, job_id):
    r = client.get("/api/generate/status", params={"job_id": job_id})
    assert r.status_code == 200, r.text
    return r.json()


def wait_state(client, job_id, states=FINAL, timeout=60):
    return wait_for(lambda: (s := status(client, job_id))["state"] in states and s,
                    timeout=timeout)


def start_ok(client, song, **fields):
    r = submit(client, song, **fields)
    assert r.status_code == 200, r.text
    job_id = r.json()["job_id"]
    assert str(uuid.UUID(job_id)) == job_id
    return job_id


def stored(tmp_path):
    """Everything a request left on disk or in the database."""
    data = tmp_path / "data"
    db = data / "jobs.sqlite3"
    rows = sqlite3.connect(db).execute("SELECT COUNT(*) FROM jobs").fetchone()[0] if db.exists() else 0
    uploads = sorted(p.name for p in (data / "uploads").glob("*")) if (data / "uploads").exists() else []
    jobs = sorted(p.name for p in (data / "jobs").glob("*")) if (data / "jobs").exists() else []
    return rows, uploads, jobs


# -- the documented API -------------------------------------------------------------------
def test_health(make_client):
    r = make_client().get("/api/health")
    assert r.status_code == 200 and r.json() == {"status": "ok"}


def test_start_status_result_round_trip(make_client, song):
    client = make_client()
    job_id = start_ok(client, song, seed="7")
    final = wait_state(client, job_id)
    assert final["state"] == "succeeded", final
    assert final["progress"] == 1.0 and final["error"] is None and final["eta_s"] is None
    assert (final["genre"], final["style"], final["palette"], final["seed"]) == (
        "rock", "cinematic", "warm", 7)
    assert final["filename"] == "song.wav" and abs(final["duration_s"] - 4.0) < 0.01
    assert final["created"].endswith("Z") and final["created"] <= final["updated"]
    assert final["attempts"] == 1 and final["stats"]["frames"] == 120

    r = client.get(final["result_url"])
    assert r.status_code == 200 and r.headers["content-type"] == "video/mp4"
    assert r.headers["accept-ranges"] == "bytes"
    assert r.headers["content-disposition"].startswith("inline")
    with av.open(io.BytesIO(r.content)) as c:
        v, a = c.streams.video[0], c.streams.audio[0]
        assert (v.codec_context.name, a.codec_context.name) == ("h264", "aac")
        assert (v.width, v.height, v.frames) == (160, 90, 120)
    video = r.content

    part = client.get("/api/generate/result", params={"job_id": job_id},
                      headers={"Range": "bytes=100-1099"})
    assert part.status_code == 206
    assert part.headers["content-range"] == f"bytes 100-1099/{len(video)}"
    assert part.content == video[100:1100]
    tail = client.get("/api/generate/result", params={"job_id": job_id},
                      headers={"Range": "bytes=-500"})
    assert tail.status_code == 206 and tail.content == video[-500:]
    outside = client.get("/api/generate/result", params={"job_id": job_id},
                         headers={"Range": f"bytes={len(video) + 10}-"})
    assert outside.status_code == 416
    dl = client.get("/api/generate/result", params={"job_id": job_id, "download": "1"})
    assert dl.headers["content-disposition"].startswith("attachment")
    assert dl.content == video


def test_status_while_queued_and_running_then_result_409(make_client, song):
    client = make_client(keyframes="gated")
    first = start_ok(client, song, seed="1")
    wait_for(lambda: GatedKeyframes.entered == 1)
    second = start_ok(client, song, seed="2")
    third = start_ok(client, song, seed="3")
    running = status(client, first)
    assert running["state"] == "running" and running["stage"] == "keyframes"
    assert 0 < running["progress"] < 1 and running["queue_position"] is None
    assert running["started"] is not None
    assert [status(client, j)["queue_position"] for j in (second, third)] == [1, 2]
    assert status(client, second)["state"] == "queued"
    for job_id, state in ((first, "running"), (second, "queued")):
        r = client.get("/api/generate/result", params={"job_id": job_id})
        assert r.status_code == 409 and r.json()["state"] == state
        assert r.json()["error"] == "not_finished"
    GatedKeyframes.gate.set()
    assert all(wait_state(client, j)["state"] == "succeeded" for j in (first, second, third))
    assert status(client, third)["queue_position"] is None


def test_unknown_and_malformed_ids_are_404_and_missing_is_422(make_client):
    client = make_client()
    for path in ("/api/generate/status", "/api/generate/result", "/api/generate/events"):
        for job_id in (str(uuid.uuid4()), "../../jobs.sqlite3", "..%2F..%2Fetc%2Fpasswd",
                       "/etc/passwd", "C:\\Windows\\win.ini", "x" * 5000):
            r = client.get(path, params={"job_id": job_id})
            assert r.status_code == 404, (path, job_id, r.text)
            assert r.json()["error"] == "not_found"
        r = client.get(path)
        assert r.status_code == 422 and r.json()["missing"] == ["job_id"]
    r = client.post("/api/generate/cancel", params={"job_id": "../x"})
    assert r.status_code == 404
    assert client.get("/static/../app.py").status_code == 404
    assert client.get("/static/..%2Fapp.py").status_code == 404
    assert client.get("/nope").json()["error"] == "not_found"
    assert client.delete("/api/health").status_code == 405


# -- bad input ----------------------------------------------------------------------------
def test_rejected_requests_store_nothing(make_client, song, tmp_path, click):
    client = make_client(max_upload_bytes=200_000)
    big, _ = click(duration=6.0, name="big.wav")  # ~265 kB
    short, _ = click(duration=0.3, name="short.wav")
    png = io.BytesIO()
    from PIL import Image

    Image.new("RGB", (8, 8)).save(png, format="PNG")
    cases = [
        (submit(client, big), 413, "too_large"),
        (submit(client, b"this is not audio at all " * 100), 415, "unsupported_media_type"),
        (submit(client, b""), 415, "unsupported_media_type"),
        (submit(client, png.getvalue(), filename="song.mp3"), 415, "unsupported_media_type"),
        (submit(client, short), 422, "invalid_audio"),
        (submit(client, song, genre="polka"), 422, "invalid_option"),
        (submit(client, song, style=""), 422, "invalid_option"),
        (submit(client, song, palette="neon"), 422, "invalid_option"),
        (submit(client, song, seed="abc"), 422, "invalid_option"),
        (submit(client, song, seed="-1"), 422, "invalid_option"),
        (submit(client, song, seed=str(2**32)), 422, "invalid_option"),
        (submit(client, song, seed="1.5"), 422, "invalid_option"),
        (submit(client, song, genre=None, palette=None), 422, "missing_field"),
        (submit(client, song, colour="red"), 422, "unknown_field"),
        (client.post("/api/generate/start", data=FIELDS), 415, "unsupported_media_type"),
        (client.post("/api/generate/start", json=FIELDS), 415, "unsupported_media_type"),
        (client.post("/api/generate/start", files={"genre": (None, "rock")}), 422,
         "missing_field"),
        (client.post("/api/generate/start", content=b"--x\r\nbroken",
                     headers={"content-type": "multipart/form-data; boundary=x"}), 400,
         "bad_request"),
    ]
    for response, code, error in cases:
        assert response.status_code == code, (code, response.text)
        body = response.json()
        assert body["error"] == error and body["message"], body
    by_error = {c[2]: c[0].json() for c in cases}
    assert by_error["too_large"]["limit_bytes"] == 200_000
    genre = cases[5][0].json()
    assert genre["field"] == "genre" and genre["valid"] == Genre.values()
    assert "hip-hop" in genre["message"]
    assert cases[6][0].json()["valid"] == Style.values()
    assert cases[7][0].json()["valid"] == Palette.values()
    assert cases[8][0].json()["field"] == "seed" and "4294967295" in cases[8][0].json()["message"]
    assert cases[12][0].json()["missing"] == ["genre", "palette"]
    assert cases[16][0].json()["missing"] == ["audio", "style", "palette"]
    assert stored(tmp_path) == (0, [], [])
    # and the same server still takes a good request
    assert wait_state(client, start_ok(client, song))["state"] == "succeeded"


def test_declared_oversize_body_is_refused_before_reading(make_client, tmp_path):
    client = make_client(max_upload_bytes=10_000)
    body = b"--b\r\n" + b"x" * 200_000
    r = client.post("/api/generate/start", content=body,
                    headers={"content-type": "multipart/form-data; boundary=b"})
    assert r.status_code == 413 and r.json()["error"] == "too_large"
    assert stored(tmp_path) == (0, [], [])


def test_enum_values_are_normalised_and_seed_optional(make_client, song):
    client = make_client()
    job = wait_state(client, start_ok(client, song, genre="Hip_Hop", style="VINTAGE", seed=None))
    assert job["genre"] == "hip-hop" and job["style"] == "vintage"
    assert 0 <= job["seed"] < 2**32
    other = wait_state(client, start_ok(client, song, seed=None))
    assert other["seed"] != job["seed"]  # a fresh random seed per job


def test_client_filename_never_becomes_a_path(make_client, song, tmp_path):
    client = make_client()
    job_id = start_ok(client, song, filename="../../evil.wav")
    job = wait_state(client, job_id)
    assert job["state"] == "succeeded" and job["filename"] == "evil.wav"
    assert not list(tmp_path.rglob("evil.wav"))
    wait_for(lambda: not (tmp_path / "data" / "jobs" / job_id / "audio").exists(),
             timeout=5)  # the upload goes once the job is done
    files = {p.relative_to(tmp_path / "data" / "jobs").as_posix()
             for p in (tmp_path / "data" / "jobs").rglob("*")}
    assert f"{job_id}/video.mp4" in files and all(f.startswith(job_id) for f in files)


# -- cancel, list, events -----------------------------------------------------------------
def test_cancel_queued_and_running_jobs(make_client, song, tmp_path):
    client = make_client(keyframes="gated")
    running = start_ok(client, song, seed="1")
    wait_for(lambda: GatedKeyframes.entered == 1)
    queued = start_ok(client, song, seed="2")
    assert (tmp_path / "data" / "jobs" / queued / "audio").is_file()
    r = client.post("/api/generate/cancel", params={"job_id": queued})
    assert r.status_code == 200 and r.json()["state"] == "canceled"
    assert not (tmp_path / "data" / "jobs" / queued).exists()
    r = client.post("/api/generate/cancel", params={"job_id": running})
    assert r.status_code == 200 and r.json()["state"] in ("running", "canceled")
    t0 = time.monotonic()
    assert wait_state(client, running, timeout=5)["state"] == "canceled"
    assert time.monotonic() - t0 < 2  # the gate stage checks every 10 ms
    assert GatedKeyframes.entered == 1  # the canceled queued job never started
    assert client.post("/api/generate/cancel", params={"job_id": running}).status_code == 200
    r = client.get("/api/generate/result", params={"job_id": running})
    assert r.status_code == 409 and r.json()["state"] == "canceled"
    GatedKeyframes.gate.set()
    done = start_ok(client, song, seed="3")
    assert wait_state(client, done)["state"] == "succeeded"
    r = client.post("/api/generate/cancel", params={"job_id": done})
    assert r.status_code == 409 and r.json()["error"] == "already_finished"


def test_jobs_are_listed_newest_first_a_page_at_a_time(make_client, song):
    client = make_client()
    ids = [start_ok(client, song, seed=str(i)) for i in range(3)]
    for j in ids:
        wait_state(client, j)
    page = client.get("/api/jobs", params={"limit": 2}).json()
    assert [j["job_id"] for j in page["jobs"]] == ids[::-1][:2]
    assert (page["total"], page["limit"], page["offset"], page["next_offset"]) == (3, 2, 0, 2)
    rest = client.get("/api/jobs", params={"limit": 2, "offset": 2}).json()
    assert [j["job_id"] for j in rest["jobs"]] == [ids[0]] and rest["next_offset"] is None
    assert client.get("/api/jobs", params={"state": "failed"}).json()["total"] == 0
    assert client.get("/api/jobs", params={"state": "succeeded"}).json()["total"] == 3
    for bad in ({"limit": 0}, {"limit": 101}, {"offset": -1}, {"limit": "x"},
                {"state": "done"}):
        r = client.get("/api/jobs", params=bad)
        assert r.status_code == 422, bad
    assert client.get("/api/jobs", params={"state": "done"}).json()["valid"] == [
        "queued", "running", "succeeded", "failed", "canceled"]


def test_events_stream_progress_until_the_job_ends(make_client, song):
    client = make_client()
    job_id = start_ok(client, song)
    events = []
    with client.stream("GET", "/api/generate/events", params={"job_id": job_id}) as r:
        assert r.headers["content-type"].startswith("text/event-stream")
        name = None
        for line in r.iter_lines():
            if line.startswith("event: "):
                name = line[7:]
            elif line.startswith("data: "):
                events.append((name, json.loads(line[6:])))
    assert events[-1] == ("end", {})
    statuses = [data for name, data in events if name == "status"]
    assert statuses[-1]["state"] == "succeeded" and statuses[-1]["progress"] == 1.0
    progress = [s["progress"] for s in statuses]
    assert progress == sorted(progress)


def test_progress_tracker_is_monotonic_and_estimates_time_left(tmp_path):
    store = JobStore(tmp_path / "jobs.sqlite3")
    job = str(uuid.uuid4())
    store.create(job, genre="pop", style="cinematic", palette="warm", seed=1, filename="",
                 duration_s=1.0, config={})
    store.claim_next()
    now = [100.0]
    tracker = ProgressTracker(store, job, min_interval=0.0, clock=lambda: now[0])
    seen = []
    for stage, done, total in [("analyze", 1, 1), ("plan", 1, 1), ("keyframes", 0, 4),
                               ("keyframes", 2, 4), ("keyframes", 4, 4), ("motion", 1, 3),
                               ("composite", 60, 120), ("motion", 2, 3),
                               ("composite", 120, 120)]:
        now[0] += 1.0
        tracker(stage, done, total, "x")
        row = store.get(job)
        seen.append(row.progress)
        assert row.stage == stage
    assert seen == sorted(seen) and seen[-1] == 0.99
    assert seen[3] == pytest.approx(0.06 + 0.64 / 2)
    assert seen[6] == pytest.approx(0.85)
    # at 0.85 after 7 s, 0.15 left at the same pace
    now[0] = 107.0
    tracker.progress = 0.85
    assert tracker.eta() == pytest.approx(7.0 * 0.15 / 0.85)
    store.close()


# -- persistence, retries, workers --------------------------------------------------------
def _interrupted_job(data_dir, song, attempts, error=None):
    """A job as a killed server leaves it: running, with its upload in place."""
    store = JobStore(data_dir / "jobs.sqlite3")
    from musicvid import RenderConfig

    job_id = str(uuid.uuid4())
    config = RenderConfig.create(**dict(SMALL, keyframes="solid"), seed=3).to_dict()
    store.create(job_id, genre="pop", style="cinematic", palette="vibrant", seed=3,
                 filename="song.wav", duration_s=4.0, config=config)
    (data_dir / "jobs" / job_id).mkdir(parents=True)
    (data_dir / "jobs" / job_id / "audio").write_bytes(song.read_bytes())
    for i in range(attempts):
        store.claim_next()
        if i < attempts - 1:
            store.requeue(job_id, error=error)
    store.close()
    return job_id


def test_restart_resumes_an_interrupted_job(make_client, song, tmp_path):
    job_id = _interrupted_job(tmp_path / "data", song, attempts=1)
    client = make_client()
    job = wait_state(client, job_id)
    assert job["state"] == "succeeded" and job["attempts"] == 2
    assert client.get(job["result_url"]).status_code == 200


def test_interrupted_too_often_gives_up_keeping_the_error(make_client, song, tmp_path):
    job_id = _interrupted_job(tmp_path / "data", song, attempts=2, error="RuntimeError: boom")
    client = make_client(max_attempts=2)
    job = status(client, job_id)
    assert job["state"] == "failed" and job["attempts"] == 2
    assert "gave up after 2 attempts" in job["error"] and "RuntimeError: boom" in job["error"]
    assert SolidKeyframes.calls == 0


def test_a_failing_job_is_retried_then_fails_with_its_error(make_client, song):
    client = make_client(keyframes="broken", max_attempts=3)
    job = wait_state(client, start_ok(client, song))
    assert job["state"] == "failed" and job["attempts"] == 3 and BrokenKeyframes.calls == 3
    assert "gave up after 3 attempts" in job["error"]
    assert "CUDA out of memory (simulated)" in job["error"]
    r = client.get("/api/generate/result", params={"job_id": job["job_id"]})
    assert r.status_code == 409 and "CUDA out of memory" in r.json()["message"]


def test_a_plugin_bug_fails_at_once(make_client, song):
    BrokenKeyframes.error = AttributeError  # retrying the same code cannot help
    client = make_client(keyframes="broken", max_attempts=3)
    job = wait_state(client, start_ok(client, song))
    assert job["state"] == "failed" and job["attempts"] == 1 and BrokenKeyframes.calls == 1
    assert "AttributeError" in job["error"] and "keyframes/broken" in job["error"]


def test_a_musicvid_error_fails_at_once(make_client, song):
    BrokenKeyframes.error = MusicVidError
    client = make_client(keyframes="broken", max_attempts=3)
    job = wait_state(client, start_ok(client, song))
    assert job["state"] == "failed" and job["attempts"] == 1 and BrokenKeyframes.calls == 1
    assert "the model refused this prompt" in job["error"]
    assert "keyframes/broken" in job["error"]  # the stage and plugin it came from


@pytest.mark.parametrize("workers", [1, 2])
def test_worker_concurrency(make_client, song, workers):
    client = make_client(keyframes="gated", workers=workers)
    ids = [start_ok(client, song, seed=str(i)) for i in range(3)]
    wait_for(lambda: sum(status(client, j)["state"] == "running" for j in ids) == workers)
    time.sleep(0.2)
    states = [status(client, j)["state"] for j in ids]
    assert states.count("running") == workers and states.count("queued") == 3 - workers
    assert status(client, ids[-1])["queue_position"] == 3 - workers
    GatedKeyframes.gate.set()
    assert all(wait_state(client, j)["state"] == "succeeded" for j in ids)
    # several workers share one model per device: its calls never overlap
    assert GatedKeyframes.max_running == 1


def test_sequential_jobs_reuse_stages_and_memory_stays_flat(make_client, song):
    client = make_client()
    app_state = client.app.state.server
    for i in range(3):
        wait_state(client, start_ok(client, song, seed=str(i)))
    stages = dict(app_state.worker.pool._stages)
    tracemalloc.start()
    try:
        before = tracemalloc.take_snapshot()
        for i in range(3, 15):
            assert wait_state(client, start_ok(client, song, seed=str(i)))["state"] == "succeeded"
        after = tracemalloc.take_snapshot()
    finally:
        tracemalloc.stop()
    grown = sum(s.size_diff for s in after.compare_to(before, "filename"))
    assert grown < 1_000_000, f"{grown} bytes kept after 12 jobs"
    assert app_state.worker.pool._stages == stages  # the same objects served every job
    wait_for(lambda: not app_state.worker._cancel, timeout=5)  # no per-job state left


def test_results_expire_after_the_ttl(make_client, song, tmp_path):
    client = make_client(result_ttl_s=0.5, cleanup_interval_s=0.05)
    job_id = start_ok(client, song)
    url = wait_state(client, job_id)["result_url"]
    assert url
    wait_for(lambda: status(client, job_id)["result_expired"], timeout=10)
    r = client.get(url)
    assert r.status_code == 410 and r.json()["error"] == "gone"
    assert not (tmp_path / "data" / "jobs" / job_id).exists()
    assert status(client, job_id)["result_url"] is None


def test_own_stage_cache_is_pruned_after_the_ttl_but_a_shared_one_is_not(
        make_client, song, tmp_path, monkeypatch):
    monkeypatch.delenv("MUSICVID_CACHE_DIR")
    # entries age by their files' times: the render's are fresh, then made a minute old
    client = make_client(result_ttl_s=30.0, cleanup_interval_s=0.05)
    wait_state(client, start_ok(client, song))
    cache = tmp_path / "data" / "cache"
    time.sleep(0.3)  # a few cleanup ticks: nothing younger than the TTL goes
    assert list(cache.rglob("*.png"))
    _age(cache, 60.0)
    wait_for(lambda: not any(p.is_file() for p in cache.rglob("*")), timeout=10)
    shared = tmp_path / "shared-cache"
    other = make_client(data_dir=tmp_path / "data2", result_ttl_s=30.0, cleanup_interval_s=0.05,
                        render={"cache_dir": shared})
    wait_state(other, start_ok(other, song, seed="9"))
    _age(shared, 60.0)
    time.sleep(0.5)
    assert list(shared.rglob("*.png"))


def _age(root, seconds):
    """Every file under ``root`` made ``seconds`` older."""
    for p in root.rglob("*"):
        if p.is_file():
            st = p.stat()
            os.utime(p, (st.st_atime - seconds, st.st_mtime - seconds))


def test_one_server_per_data_directory(make_client, tmp_path):
    make_client()
    second = TestClient(create_app(ServerSettings(data_dir=tmp_path / "data")),
                        base_url="http://127.0.0.1")
    with pytest.raises(DataDirBusy, match="already using the data directory"):
        second.__enter__()


# -- security -----------------------------------------------------------------------------
def test_api_key_is_required_when_set(make_client, song):
    client = make_client(api_key="s3cret-key")
    assert client.get("/api/health").json() == {"status": "ok"}
    assert client.get("/").status_code == 200
    r = client.get("/api/jobs")
    assert r.status_code == 401 and r.headers["www-authenticate"].startswith("Bearer")
    assert r.json()["error"] == "unauthorized"
    assert client.get("/api/jobs", headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert submit(client, song).status_code == 401
    auth = {"Authorization": "Bearer s3cret-key"}
    assert client.get("/api/jobs", headers=auth).status_code == 200
    assert client.get("/api/jobs", params={"access_token": "s3cret-key"}).status_code == 200
    assert client.get("/api/options").json()["api_key_required"] is True


def test_other_addresses_need_an_api_key():
    with pytest.raises(InvalidOptionError, match="MUSICVID_API_KEY"):
        ServerSettings(host="0.0.0.0").check_binding()
    ServerSettings(host="0.0.0.0", api_key="k" * 16).check_binding()
    for short in ("k", "fifteen-chars-x"):  # a guessable key does not guard a public port
        with pytest.raises(InvalidOptionError, match="at least 16 characters"):
            ServerSettings(host="0.0.0.0", api_key=short).check_binding()
    ServerSettings(host="127.0.0.1", api_key="k").check_binding()
    ServerSettings(host="127.0.0.1").check_binding()
    ServerSettings(host="::1").check_binding()
    assert ServerSettings().trusted_hosts == ["127.0.0.1", "localhost", "[::1]"]
    assert ServerSettings(host="10.1.2.3", api_key="k").trusted_hosts[0] == "10.1.2.3"


def test_python_m_musicvid_server_refuses_a_public_address_without_key(tmp_path):
    env = {**os.environ, "MUSICVID_DATA_DIR": str(tmp_path), "MUSICVID_API_KEY": ""}
    proc = subprocess.run([sys.executable, "-m", "musicvid_server", "--host", "0.0.0.0"],
                          capture_output=True, text=True, env=env, timeout=60)
    assert proc.returncode == 2
    assert "MUSICVID_API_KEY" in proc.stderr and "0.0.0.0" in proc.stderr
    assert not (tmp_path / "jobs.sqlite3").exists()


def test_unknown_host_header_is_refused(make_client):
    client = make_client()
    r = client.get("/api/health", headers={"Host": "evil.example.com"})
    assert r.status_code == 400
    assert client.get("/api/health", headers={"Host": "localhost:8000"}).status_code == 200


def test_page_and_static_files(make_client):
    client = make_client()
    r = client.get("/")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert 'id="audio"' in r.text and "/static/app.js" in r.text
    assert "frame-ancestors 'none'" in r.headers["content-security-policy"]
    js = client.get("/static/app.js")
    assert js.status_code == 200 and "javascript" in js.headers["content-type"]
    assert "/api/generate/start" in js.text
    assert client.get("/static/style.css").status_code == 200
    opts = client.get("/api/options").json()
    assert opts["genre"] == Genre.values() and opts["max_upload_bytes"] == 200 * 1024 * 1024


def test_openapi_describes_every_route_and_error(make_client):
    client = make_client()
    r = client.get("/openapi.json")
    assert r.status_code == 200 and r.headers["content-type"] == "application/json"
    schema = r.json()
    assert schema["openapi"].startswith("3.")
    routes = {route.path for route in client.app.routes if hasattr(route, "methods")}
    assert routes == set(schema["paths"])
    for route in client.app.routes:
        if not hasattr(route, "methods"):
            continue
        documented = {m.upper() for m in schema["paths"][route.path]}
        assert documented == route.methods - {"HEAD"}, route.path
    expected = {
        ("/api/generate/start", "post"): {"200", "400", "401", "413", "415", "422", "500"},
        ("/api/generate/status", "get"): {"200", "401", "404", "422", "500"},
        ("/api/generate/result", "get"): {"200", "206", "401", "404", "409", "410", "416",
                                          "422"},
        ("/api/generate/cancel", "post"): {"200", "404", "409", "422"},
        ("/api/generate/events", "get"): {"200", "404", "422"},
        ("/api/jobs", "get"): {"200", "422"},
    }
    for (path, method), codes in expected.items():
        assert codes <= set(schema["paths"][path][method]["responses"]), path
    form = schema["paths"]["/api/generate/start"]["post"]["requestBody"]["content"][
        "multipart/form-data"]["schema"]
    assert form["properties"]["genre"]["enum"] == Genre.values()
    assert form["properties"]["palette"]["enum"] == Palette.values()
    assert form["required"] == ["audio", "genre", "style", "palette"]


def test_invalid_render_settings_fail_at_startup(server_stages, tmp_path):
    with pytest.raises(MusicVidError, match="no keyframes named 'nope'"):
        create_app(ServerSettings(data_dir=tmp_path, render_options={"keyframes": "nope"}))
    with pytest.raises(InvalidOptionError, match="width"):
        create_app(ServerSettings(data_dir=tmp_path, render_options={"width": 7}))


def test_musicvid_serve_subcommand_has_the_server_and_model_options():
    proc = subprocess.run([sys.executable, "-m", "musicvid", "serve", "--help"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    for option in ("--host", "--port", "--data-dir", "--workers", "--max-upload-mb",
                   "--sdxl-model", "--profile", "--result-ttl-hours", "--max-attempts"):
        assert option in proc.stdout
    for per_job in ("--genre", "--style", "--palette", "--seed", "--no-cache"):
        assert per_job not in proc.stdout


def test_serve_takes_every_model_option_of_render(tmp_path, monkeypatch):

    from musicvid.cli import build_parser
    from musicvid.options import iter_options
    from musicvid_server.settings import settings_from_args

    commands = build_parser()._subparsers._group_actions[0].choices
    render_flags = {f for a in commands["render"]._actions for f in a.option_strings}
    serve_flags = {f for a in commands["serve"]._actions for f in a.option_strings}
    per_job = {s.cli_flag for s in iter_options(scopes=("job",))} | {"--no-cache"}
    assert per_job == {"--genre", "--style", "--palette", "--seed", "--no-cache",
                       "--concept", "--section-prompt", "--reference", "--ip-adapter-scale",
                       "--lyrics", "--transcribe", "--captions"}
    assert not per_job & serve_flags
    assert render_flags - per_job - {"-o", "--output", "--storyboard", "-q", "--quiet",
                                     "--contact-sheet"} <= serve_flags
    monkeypatch.delenv("MUSICVID_CACHE_DIR")
    args = build_parser().parse_args(["serve", "--data-dir", str(tmp_path), "--steps", "3",
                                      "--sdxl-model", "some/model", "--profile", "gpu",
                                      "--workers", "2", "--max-upload-mb", "1.5"])
    settings = settings_from_args(args)
    assert settings.render_options == {"steps": 3, "sdxl_model": "some/model"}
    args = build_parser().parse_args(["serve", "--data-dir", str(tmp_path), "--option",
                                      "svd_steps=12", "--option", "kenburns_batch=4"])
    assert settings_from_args(args).render_options == {
        "options": {"svd_steps": "12", "kenburns_batch": "4"}}
    assert (settings.profile, settings.workers, settings.max_upload_bytes) == (
        "gpu", 2, int(1.5 * 1024 * 1024))
    assert settings.render_config_kwargs()["cache_dir"] == tmp_path / "cache"


def test_importing_the_server_package_is_light():
    code = ("import sys, musicvid_server, musicvid.cli; musicvid.cli.build_parser(); "
            "print(sorted(m for m in ('starlette', 'torch', 'av', 'librosa', 'uvicorn') "
            "if m in sys.modules))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60)
    assert proc.stdout.strip() == "[]", proc.stderr


def test_events_of_a_job_end_when_the_server_stops(make_client, song):
    client = make_client(keyframes="gated")
    job_id = start_ok(client, song)
    wait_for(lambda: GatedKeyframes.entered == 1)
    lines = []

    def read():
        with client.stream("GET", "/api/generate/events", params={"job_id": job_id}) as r:
            lines.extend(r.iter_lines())

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    wait_for(lambda: any(line.startswith("data: ") for line in lines))
    client.app.state.server.stopping.set()
    reader.join(5)
    assert not reader.is_alive()


def test_graceful_stop_requeues_a_running_job_without_using_an_attempt(server_stages, song, tmp_path):
    def app():
        return create_app(ServerSettings(data_dir=tmp_path / "data", max_attempts=1,
                                         render_options=dict(SMALL, keyframes="gated")))

    with TestClient(app(), base_url="http://127.0.0.1") as client:
        job_id = start_ok(client, song)
        wait_for(lambda: GatedKeyframes.entered == 1)
    # stopped mid-job: back in the queue, the attempt refunded
    row = JobStore(tmp_path / "data" / "jobs.sqlite3").get(job_id)
    assert (row.state, row.attempts, row.message) == ("queued", 0, "waiting to resume")
    GatedKeyframes.gate.set()
    with TestClient(app(), base_url="http://127.0.0.1") as client:
        job = wait_state(client, job_id)
        assert (job["state"], job["attempts"]) == ("succeeded", 1)


def test_startup_removes_half_uploads_and_orphan_job_folders(make_client, song, tmp_path):
    data = tmp_path / "data"
    (data / "uploads").mkdir(parents=True)
    (data / "uploads" / "abc.part").write_bytes(b"half an upload")
    orphan = data / "jobs" / str(uuid.uuid4())
    orphan.mkdir(parents=True)
    (orphan / "audio").write_bytes(b"x")
    (data / "jobs" / "not-a-job").mkdir()
    client = make_client()
    assert stored(tmp_path) == (0, [], [])
    assert wait_state(client, start_ok(client, song))["state"] == "succeeded"


def test_data_dir_and_limits_from_the_environment(tmp_path, monkeypatch):
    from musicvid.cli import build_parser
    from musicvid_server.settings import settings_from_args

    for name, value in (("MUSICVID_DATA_DIR", str(tmp_path / "env-data")),
                        ("MUSICVID_WORKERS", "3"), ("MUSICVID_MAX_UPLOAD_MB", "5"),
                        ("MUSICVID_RESULT_TTL_HOURS", "0.5"), ("MUSICVID_MAX_ATTEMPTS", "4"),
                        ("MUSICVID_ALLOWED_HOSTS", "a.example, b.example"),
                        ("MUSICVID_API_KEY", "k")):
        monkeypatch.setenv(name, value)
    settings = settings_from_args(build_parser().parse_args(["serve"]))
    assert settings.data_dir == tmp_path / "env-data"
    assert (settings.workers, settings.max_upload_bytes, settings.result_ttl_s,
            settings.max_attempts) == (3, 5 * 1024 * 1024, 1800.0, 4)
    assert settings.trusted_hosts == ["a.example", "b.example"] and settings.api_key == "k"
    override = settings_from_args(build_parser().parse_args(
        ["serve", "--data-dir", str(tmp_path / "opt"), "--workers", "1"]))
    assert override.data_dir == tmp_path / "opt" and override.workers == 1
    monkeypatch.setenv("MUSICVID_WORKERS", "many")
    with pytest.raises(InvalidOptionError, match="MUSICVID_WORKERS"):
        settings_from_args(build_parser().parse_args(["serve"]))
