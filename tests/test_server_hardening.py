"""What a hostile page, a full disk or a hostile client can still do to the server; the
HTTP-level cases go through a real uvicorn socket."""

import errno
import http.client
import json
import socket
import sqlite3
import threading
import urllib.error
import urllib.request
import uuid

import pytest
from server_support import FINAL, SMALL, GatedKeyframes, running_server, wait_for
from test_server import make_client, stages, start_ok, status, submit, wait_state  # noqa: F401

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
def test_state_changing_requests_from_other_origins_are_refused(stages, song, tmp_path):
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
