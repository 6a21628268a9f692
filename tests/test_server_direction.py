"""The server's concept and reference fields and the storyboard view (fake stages)."""
# ruff: noqa: F811 - the fixtures of test_server are imported, then requested by name

import io
import json

import pytest
from PIL import Image
from server_support import GatedKeyframes, wait_for
from test_server import (  # noqa: F401
    FIELDS,
    make_client,
    song,
    start_ok,
    status,
    stored,
    wait_state,
)

CONCEPT = "a lighthouse keeper in a storm"


def png_bytes(size=(64, 48), color=(200, 40, 40), fmt="PNG"):
    buf = io.BytesIO()
    Image.new("RGB", size, color).save(buf, format=fmt)
    return buf.getvalue()


def post(client, audio, refs=(), **fields):
    files = [("audio", ("song.wav", audio.read_bytes(), "application/octet-stream"))]
    files += [("reference", (name, data, "image/png")) for name, data in refs]
    return client.post("/api/generate/start", data={**FIELDS, **fields}, files=files)


def storyboard(client, job_id):
    return client.get("/api/generate/storyboard", params={"job_id": job_id})


def test_concept_and_references_reach_the_render_and_the_storyboard(make_client, song,
                                                                    tmp_path):
    client = make_client()
    r = post(client, song, refs=[("face.png", png_bytes()),
                                 ("face.jpg", png_bytes(color=(10, 10, 200), fmt="JPEG"))],
             concept=f"  {CONCEPT}  ", section_prompts=json.dumps({"verse": "rowing home"}),
             ip_adapter_scale="0.8")
    assert r.status_code == 200, r.text
    job_id = r.json()["job_id"]
    assert wait_state(client, job_id)["state"] == "succeeded"
    from musicvid_server.store import JobStore

    job = JobStore(tmp_path / "data" / "jobs.sqlite3").get(job_id)
    folder = tmp_path / "data" / "jobs" / job_id
    assert job.config["concept"] == CONCEPT
    assert job.config["section_prompts"] == {"verse": "rowing home"}
    assert job.config["ip_adapter_scale"] == 0.8
    assert job.config["reference"] == [str(folder / "reference" / "0.png"),
                                       str(folder / "reference" / "1.jpg")]
    assert not (folder / "reference").exists()  # inputs go once the video is made
    view = storyboard(client, job_id)
    assert view.status_code == 200, view.text
    body = view.json()
    assert body["state"] == "succeeded" and body["concept"] == CONCEPT
    assert body["shots"] and all(CONCEPT in s["prompt"] for s in body["shots"])
    assert body["keyframes_ready"] == len(body["shots"])
    assert [s["index"] for s in body["shots"]] == list(range(len(body["shots"])))
    assert body["shots"][0]["start"] == 0 and body["shots"][-1]["end"] == pytest.approx(4.0)
    thumb = client.get(body["shots"][0]["keyframe_url"])
    assert thumb.status_code == 200 and thumb.headers["content-type"] == "image/png"
    with Image.open(io.BytesIO(thumb.content)) as im:
        assert im.format == "PNG" and 0 < im.width <= 256
    missing = client.get("/api/generate/keyframe", params={"job_id": job_id, "shot": 999})
    assert missing.status_code == 404 and missing.json()["error"] == "not_found"
    bad = client.get("/api/generate/keyframe", params={"job_id": job_id, "shot": "x"})
    assert bad.status_code == 422


def test_the_storyboard_is_there_before_the_render_finishes(make_client, song):
    client = make_client(keyframes="gated")
    job_id = start_ok(client, song, concept=CONCEPT)
    early = storyboard(client, job_id)
    assert early.status_code in (200, 409)
    if early.status_code == 409:
        assert early.json()["error"] == "not_planned"
    body = wait_for(lambda: (r := storyboard(client, job_id)).status_code == 200 and r.json())
    assert body["state"] == "running" and body["keyframes_ready"] == 0
    assert all(s["keyframe_url"] is None and CONCEPT in s["prompt"] for s in body["shots"])
    GatedKeyframes.gate.set()
    assert wait_state(client, job_id)["state"] == "succeeded"
    done = storyboard(client, job_id).json()
    assert done["keyframes_ready"] == len(done["shots"]) == len(body["shots"])


def test_bad_direction_fields_are_refused_and_nothing_is_stored(make_client, song, tmp_path):
    client = make_client()
    truncated = png_bytes()[:40]
    cases = [
        (post(client, song, refs=[("x.png", b"not a picture at all")]), 415,
         "unsupported_media_type"),
        (post(client, song, refs=[("x.png", truncated)]), 415, "unsupported_media_type"),
        (post(client, song, refs=[("x.gif", png_bytes(fmt="GIF"))]), 415,
         "unsupported_media_type"),
        (post(client, song, refs=[("x.png", png_bytes(size=(8, 8)))]), 422,
         "invalid_reference"),
        (post(client, song, refs=[("x.png", png_bytes())] * 5), 422, "invalid_field"),
        (post(client, song, refs=[("x.png", b"\x89PNG" + b"0" * (10 * 1024 * 1024))]), 413,
         "too_large"),
        (post(client, song, concept="storm " * 100), 422, "invalid_option"),
        (post(client, song, section_prompts="dancing in the rain"), 422, "invalid_option"),
        (post(client, song, section_prompts='{"chorus": 3}'), 422, "invalid_option"),
        (post(client, song, ip_adapter_scale="2"), 422, "invalid_option"),
    ]
    for response, code, error in cases:
        assert response.status_code == code, (code, response.text)
        body = response.json()
        assert body["error"] == error and body["message"], body
    assert all(c[0].json().get("field") in ("reference", "concept", "section_prompts",
                                            "ip_adapter_scale") for c in cases)
    assert stored(tmp_path) == (0, [], [])
    # the same server still takes a good request with a reference
    r = post(client, song, refs=[("x.webp", png_bytes(fmt="WEBP"))])
    assert r.status_code == 200, r.text
    assert wait_state(client, r.json()["job_id"])["state"] == "succeeded"
    # and one section prompt without JSON
    r = post(client, song, section_prompts='chorus="dancing in the rain"')
    assert r.status_code == 200, r.text
    assert wait_state(client, r.json()["job_id"])["state"] == "succeeded"
    from musicvid_server.store import JobStore

    job = JobStore(tmp_path / "data" / "jobs.sqlite3").get(r.json()["job_id"])
    assert job.config["section_prompts"] == {"chorus": "dancing in the rain"}


def test_storyboard_of_an_unknown_job_is_404(make_client):
    client = make_client()
    r = storyboard(client, "00000000-0000-4000-8000-000000000000")
    assert r.status_code == 404
    opts = client.get("/api/options").json()
    assert opts["max_references"] >= 1 and opts["max_reference_bytes"] > 0


def test_with_an_api_key_thumbnails_open_by_a_signed_link_only(make_client, song):
    client = make_client(api_key="s3cret")
    auth = {"Authorization": "Bearer s3cret"}
    files = {"audio": ("song.wav", song.read_bytes(), "application/octet-stream")}
    r = client.post("/api/generate/start", data={**FIELDS, "concept": CONCEPT}, files=files,
                    headers=auth)
    assert r.status_code == 200, r.text
    job_id = r.json()["job_id"]
    wait_for(lambda: client.get("/api/generate/status", params={"job_id": job_id},
                                headers=auth).json()["state"] == "succeeded")
    assert storyboard(client, job_id).status_code == 401
    view = client.get("/api/generate/storyboard", params={"job_id": job_id},
                      headers=auth).json()
    url = view["shots"][0]["keyframe_url"]
    assert "&token=" in url and "s3cret" not in url
    assert client.get(url).status_code == 200  # no header: the signed link is enough
    bare = url.split("&token=")[0]
    assert client.get(bare).status_code == 401
    assert client.get(bare + "&token=1.forged").status_code == 401
