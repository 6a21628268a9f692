"""A real server process: submit with a plain multipart client (the standard library),
SIGKILL the server mid-job, restart it, and see the job finish from the stage cache."""

import json
import os
import re
import signal
import subprocess
import sys
import threading
import urllib.request
import uuid

import pytest
from server_support import wait_for

pytestmark = pytest.mark.skipif(os.name == "nt", reason="SIGKILL is POSIX-only")


class ServerProcess:
    def __init__(self, args, env):
        self.proc = subprocess.Popen([sys.executable, "-m", "musicvid_server", *args],
                                     stderr=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                     text=True, env=env)
        self.log = []
        self.url = None
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()
        wait_for(lambda: self.url or self.proc.poll() is not None, timeout=120)
        assert self.url, "the server did not start:\n" + "".join(self.log)

    def _read(self):
        for line in self.proc.stderr:
            self.log.append(line)
            m = re.search(r"Uvicorn running on (http://127\.0\.0\.1:\d+)", line)
            if m:
                self.url = m.group(1)

    def get(self, path):
        with urllib.request.urlopen(self.url + path, timeout=30) as r:
            return json.loads(r.read())

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)  # Ctrl+C
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.reader.join(10)
        self.proc.stderr.close()


def post_multipart(url, fields, file_field, filename, content):
    """multipart/form-data by hand: what any HTTP client sends."""
    boundary = uuid.uuid4().hex
    parts = []
    for name, value in fields.items():
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'
                     f"{value}\r\n".encode())
    parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{file_field}"; '
                 f'filename="{filename}"\r\nContent-Type: application/octet-stream\r\n\r\n'
                 .encode() + content + b"\r\n")
    parts.append(f"--{boundary}--\r\n".encode())
    req = urllib.request.Request(url, data=b"".join(parts), method="POST", headers={
        "Content-Type": f"multipart/form-data; boundary={boundary}"})
    with urllib.request.urlopen(req, timeout=60) as r:
        return json.loads(r.read())


def test_sigkill_mid_job_then_restart_resumes_from_cached_keyframes(
        tmp_path, tiny_models, click, cache_dir):
    song, _ = click(duration=20.0, name="song.wav")
    data_dir = tmp_path / "data"
    args = ["--port", "0", "--data-dir", str(data_dir), "--sdxl-model", str(tiny_models["sdxl"]),
            "--width", "256", "--height", "144", "--keyframe-width", "256",
            "--keyframe-height", "144", "--steps", "8"]
    # one torch thread: tiny models on a shared small machine run many times faster
    env = dict(os.environ, MUSICVID_CACHE_DIR=str(cache_dir), OMP_NUM_THREADS="1")
    server = ServerProcess(args, env)
    try:
        job_id = post_multipart(server.url + "/api/generate/start",
                                {"genre": "folk", "style": "artistic", "palette": "warm",
                                 "seed": "11"}, "audio", "song.wav", song.read_bytes())["job_id"]
        def finished_keyframes():  # not the hidden temporary files of a write under way
            return [p for p in (cache_dir / "keyframe").rglob("*.png")
                    if not p.name.startswith(".")]

        wait_for(finished_keyframes, timeout=240, interval=0.005)
        server.proc.send_signal(signal.SIGKILL)
        assert server.proc.wait(30) == -signal.SIGKILL
    finally:
        server.stop()
    done_before = {p: p.stat().st_mtime_ns for p in finished_keyframes()}
    assert not (data_dir / "jobs" / job_id / "video.mp4").exists()

    server = ServerProcess(args, env)
    try:
        job = wait_for(lambda: (s := server.get(f"/api/generate/status?job_id={job_id}"))
                       ["state"] in ("succeeded", "failed", "canceled") and s, timeout=300)
        assert job["state"] == "succeeded", job
        assert job["attempts"] == 2
        stats = job["stats"]
        # the keyframes finished before the kill came from the cache, untouched
        assert stats["keyframes_cached"] == len(done_before) >= 1
        assert stats["keyframes_generated"] == stats["shots"] - len(done_before) >= 1
        assert {p: p.stat().st_mtime_ns for p in done_before} == done_before
        assert stats["analysis_cached"] is True
        with urllib.request.urlopen(server.url + job["result_url"], timeout=30) as r:
            assert r.headers["Content-Type"] == "video/mp4" and len(r.read()) > 1000
    finally:
        server.stop()
    assert server.proc.returncode in (0, 130)  # 130: the usual status after Ctrl+C
    assert any("Application shutdown complete" in line for line in server.log)
