"""Lyrics through the server: the optional ``lyrics`` file and ``captions`` fields."""
# ruff: noqa: F811
# (the fixtures of test_server are imported, and pytest passes them by name)

import io

import av
from test_server import (  # noqa: F401
    FIELDS,
    make_client,
    song,
    start_ok,
    stored,
    submit,
    wait_state,
)

LRC = b"[00:00.50]Silver rivers under a violet sky\n[00:02.00]<00:02.00>Cold <00:02.50>blue <00:03.00>rain <00:03.50>\n"


def submit_lyrics(client, audio, lyrics, filename="song.lrc", **fields):
    data = {k: v for k, v in dict(FIELDS, **fields).items() if v is not None}
    return client.post("/api/generate/start", data=data,
                       files={"audio": ("song.wav", audio.read_bytes(), "audio/wav"),
                              "lyrics": (filename, lyrics, "application/octet-stream")})


def test_a_job_with_lyrics_burns_and_serves_them(make_client, song):
    client = make_client()
    r = submit_lyrics(client, song, LRC, captions="both")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["lyrics"]["format"] == "lrc"
    assert [ln["text"] for ln in body["lyrics"]["lines"]] == [
        "Silver rivers under a violet sky", "Cold blue rain"]
    assert body["lyrics"]["lines"][0]["start"] == 0.5
    job = wait_state(client, body["job_id"])
    assert job["state"] == "succeeded", job
    used = client.get("/api/generate/lyrics", params={"job_id": body["job_id"]})
    assert used.status_code == 200
    assert used.json()["format"] == "lrc"
    assert [(ln["text"], ln["start"]) for ln in used.json()["lines"]] == [
        ("Silver rivers under a violet sky", 0.5), ("Cold blue rain", 2.0)]
    vtt = client.get("/api/generate/lyrics", params={"job_id": body["job_id"], "format": "vtt"})
    assert vtt.status_code == 200 and vtt.text.startswith("WEBVTT")
    assert vtt.headers["content-type"].startswith("text/vtt")
    video = client.get(job["result_url"])
    with av.open(io.BytesIO(video.content)) as c:
        assert c.streams.subtitles[0].codec_context.name == "mov_text"
    bad = client.get("/api/generate/lyrics", params={"job_id": body["job_id"], "format": "x"})
    assert bad.status_code == 422 and bad.json()["field"] == "format"


def test_a_job_without_lyrics_has_none_and_an_empty_file_input_is_no_lyrics(make_client, song):
    client = make_client()
    r = submit_lyrics(client, song, b"", filename="")  # a form whose lyrics input is empty
    assert r.status_code == 200, r.text
    assert "lyrics" not in r.json()
    job_id = r.json()["job_id"]
    assert wait_state(client, job_id)["state"] == "succeeded"
    r = client.get("/api/generate/lyrics", params={"job_id": job_id})
    assert r.status_code == 404 and r.json()["error"] == "not_found"


def test_bad_lyrics_are_422_json_and_store_nothing(make_client, song, tmp_path):
    client = make_client()
    cases = [
        (submit_lyrics(client, song, b"\x89PNG\r\n\x1a\n\x00\x00\x00"), None, "binary"),
        (submit_lyrics(client, song, b"", filename="empty.lrc"), None, "empty"),
        (submit_lyrics(client, song, b"[00:01.00]one\n[00:09.00]past the end\n"), 2,
         "after the end of the song"),
        (submit_lyrics(client, song, b"1\n00:00:01,000 --> 00:00:03,000\na\n\n"
                                     b"2\n00:00:02,000 --> 00:00:03,500\nb\n", "song.srt"),
         6, "overlap"),
        (submit_lyrics(client, song, b"[00:01.00]one\n[0x:02.00]two\n"), 2, "timestamp"),
        (submit_lyrics(client, song, b"[00:01.00]x" * 30000), None, "larger than"),
        (submit(client, song, captions="sideways"), None, "captions"),
        (submit(client, song, transcribe="maybe"), None, "transcribe"),
    ]
    for response, line, words in cases:
        assert 400 <= response.status_code < 500, response.text
        body = response.json()
        assert body["message"] and words in body["message"], body
        if line is not None:
            assert body["error"] == "invalid_lyrics" and body["line"] == line
            assert body["field"] == "lyrics"
    assert stored(tmp_path) == (0, [], [])
    assert wait_state(client, start_ok(client, song))["state"] == "succeeded"


def test_options_and_openapi_list_the_lyrics_fields(make_client):
    client = make_client()
    assert client.get("/api/options").json()["captions"] == ["soft", "burn", "both", "none"]
    schema = client.get("/openapi.json").json()
    form = schema["paths"]["/api/generate/start"]["post"]["requestBody"]["content"][
        "multipart/form-data"]["schema"]["properties"]
    assert form["lyrics"]["format"] == "binary"
    assert form["captions"]["enum"] == ["soft", "burn", "both", "none"]
    assert "/api/generate/lyrics" in schema["paths"]
