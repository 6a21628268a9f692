"""The Ray executor on a local Ray instance with fake GPU resources."""

import os
import threading

import av
import numpy as np
import pytest
import ray

from musicvid import RenderCancelled, render
from musicvid.testing import TINY as SMALL

pytestmark = pytest.mark.ray


@pytest.fixture(scope="module")
def ray_cluster():
    ray.init(num_cpus=2, num_gpus=2, include_dashboard=False, log_to_driver=False)
    yield
    from musicvid.executors import ray_executor

    ray_executor._POOLS.clear()
    ray.shutdown()


def frames(path):
    with av.open(str(path)) as c:
        return [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]


def test_ray_render_matches_local_frame_for_frame(ray_cluster, tiny_models, click, tmp_path):
    audio, _ = click(duration=8.0)
    common = dict(SMALL, sdxl_model=str(tiny_models["sdxl"]))
    local = render(audio, tmp_path / "local.mp4", cache_dir=tmp_path / "c1", **common)
    seen = []
    dist = render(audio, tmp_path / "ray.mp4", cache_dir=tmp_path / "c2", executor="ray",
                  ray_workers=2, progress=lambda s, d, t, m: seen.append((s, d, t)), **common)
    assert dist.stats["keyframes_generated"] == local.stats["keyframes_generated"] >= 2
    a, b = frames(tmp_path / "local.mp4"), frames(tmp_path / "ray.mp4")
    assert len(a) == len(b) == 240
    assert max(int(np.abs(x.astype(int) - y).max()) for x, y in zip(a, b)) <= 2
    done = [(d, t) for s, d, t in seen if s == "keyframes"]
    assert done[-1][0] == done[-1][1] == dist.stats["keyframes_generated"]


def test_a_worker_that_dies_is_restarted_and_its_shot_retried(ray_cluster, click, tmp_path,
                                                              fakes):
    audio, _ = click(duration=8.0)
    marker = tmp_path / "crashed"
    result = render(audio, tmp_path / "o.mp4", keyframes="crash-once", executor="ray",
                    ray_workers=2, options={"crash_marker": str(marker)}, **SMALL)
    assert marker.exists()  # a worker really died
    assert int(marker.read_text()) != os.getpid()
    assert result.composite.frame_count == 240
    assert result.stats["keyframes_generated"] == len(
        {(s.prompt, s.seed) for s in result.storyboard.shots})


def test_cancel_reaches_ray_work(ray_cluster, tiny_models, click, tmp_path):
    audio, _ = click(duration=8.0)
    stop = threading.Event()

    def progress(stage, done, total, msg):
        if stage == "keyframes" and done >= 1:
            stop.set()

    with pytest.raises(RenderCancelled):
        render(audio, tmp_path / "o.mp4", sdxl_model=str(tiny_models["sdxl"]), executor="ray",
               ray_workers=1, cancel=stop, progress=progress, **SMALL)
    assert not (tmp_path / "o.mp4").exists()


def test_auto_on_ray_never_stores_its_ken_burns_fallback(ray_cluster, click, tmp_path, fakes):
    """``auto`` is cacheable, so its clips fan out to the workers; without a GPU each is a
    Ken Burns fallback that says ``cache: False`` and must not land under the SVD key."""
    audio, _ = click(duration=4.0)
    cache = tmp_path / "cache"
    result = render(audio, tmp_path / "auto.mp4", keyframes="solid", motion="auto",
                    executor="ray", ray_workers=2, cache_dir=cache, width=160, height=96,
                    keyframe_width=64, keyframe_height=64)
    assert result.composite.frame_count == 120
    assert (cache / "keyframe").is_dir()  # the workers did write to this cache
    assert not list(cache.rglob("*.mkv"))
