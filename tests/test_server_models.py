"""The server with the real stages (librosa, SDXL via diffusers, Ken Burns, PyAV) on the
tiny random SDXL pipeline."""

import io

import av
from server_support import FINAL, wait_for
from starlette.testclient import TestClient

from musicvid.defaults import sdxl_keyframes
from musicvid_server import ServerSettings, create_app

TINY = dict(width=192, height=108, keyframe_width=128, keyframe_height=72, steps=2)


def test_jobs_render_with_tiny_sdxl_and_share_one_loaded_pipeline(tmp_path, tiny_models, click):
    song, _ = click(duration=10.0, name="song.wav")
    settings = ServerSettings(data_dir=tmp_path / "data",
                              render_options=dict(TINY, sdxl_model=str(tiny_models["sdxl"])))
    sdxl_keyframes._PIPELINES.clear()
    with TestClient(create_app(settings), base_url="http://127.0.0.1") as client:
        def run(seed):
            r = client.post("/api/generate/start",
                            data={"genre": "jazz", "style": "vintage", "palette": "cool",
                                  "seed": str(seed)},
                            files={"audio": ("song.wav", song.read_bytes(), "audio/wav")})
            assert r.status_code == 200, r.text
            job_id = r.json()["job_id"]
            return wait_for(lambda: (s := client.get("/api/generate/status",
                                                     params={"job_id": job_id}).json())
                            ["state"] in FINAL and s, timeout=300)

        first = run(4)
        assert first["state"] == "succeeded", first
        shots = first["stats"]["shots"]
        assert first["stats"]["keyframes_generated"] == shots >= 2
        video = client.get(first["result_url"]).content
        with av.open(io.BytesIO(video)) as c:
            v, a = c.streams.video[0], c.streams.audio[0]
            assert (v.codec_context.name, a.codec_context.name) == ("h264", "aac")
            assert (v.width, v.height, v.frames) == (192, 108, 300)
        pipeline = next(iter(sdxl_keyframes._PIPELINES.values()))

        again = run(4)  # same song and seed: everything from the stage cache
        assert again["stats"]["keyframes_generated"] == 0
        assert again["stats"]["keyframes_cached"] == shots and again["stats"]["analysis_cached"]
        other = run(5)  # a new seed: new keyframes from the same loaded pipeline
        assert other["stats"]["keyframes_generated"] == shots
        assert list(sdxl_keyframes._PIPELINES.values()) == [pipeline]
