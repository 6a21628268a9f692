"""The one clip function behind the local path and the Ray workers, and Keyframe.model."""

from contextlib import closing

import numpy as np
import pytest
from PIL import Image

from musicvid import Pipeline, RenderConfig, render
from musicvid.cache import Cache
from musicvid.errors import MusicVidError
from musicvid.executors.base import ClipTask, do_clip_task, keyframe_model, run_clip_task
from musicvid.hookspecs import hookimpl
from musicvid.plugins import get_plugin_manager
from musicvid.protocols import StageContext
from musicvid.types import Analysis, Clip, Section, Shot, Storyboard

W, H = 32, 16


class FlatMotion:
    """Frames of one grey level; ``keep`` says whether the clip may be cached."""

    name = "flat"
    cacheable = True
    keep = True
    seen_models: list = []

    def cache_key_parts(self, ctx):
        return {"keep": self.keep}

    def animate(self, keyframe, shot, storyboard, analysis, ctx):
        type(self).seen_models.append(keyframe.model)

        def frames():
            for _ in range(shot.frame_count):
                yield np.full((storyboard.height, storyboard.width, 3), 90, np.uint8)

        meta = {"motion": self.name} if self.keep else {"motion": self.name, "cache": False}
        return Clip(shot.frame_count, storyboard.width, storyboard.height, frames, meta=meta)


def one_shot(tmp_path, frames=6):
    board = Storyboard(fps=30, frame_count=frames, width=W, height=H,
                       shots=[Shot(0, 0, frames, "p", seed=1)])
    analysis = Analysis(duration=frames / 30, sample_rate=22050, tempo=120.0, beats=[],
                        downbeats=[], sections=[Section(0.0, frames / 30, "verse", 0, 0.5)])
    cache = Cache(tmp_path / "cache")
    cache.put_image("keyframe", "kf", Image.new("RGB", (W, H), (10, 20, 30)))
    ctx = StageContext(RenderConfig.create(width=W, height=H), "motion")
    return board, analysis, cache, ctx


@pytest.mark.parametrize("keep", [True, False])
def test_the_ray_clip_task_stores_only_clips_that_may_be_cached(tmp_path, keep):
    """``auto``'s Ken Burns fallback says ``cache: False``; a Ray worker must not store it
    under the clip's (SVD) key, where the next render would replay it."""
    board, analysis, cache, ctx = one_shot(tmp_path)
    motion = FlatMotion()
    motion.keep = keep
    stored = do_clip_task(ClipTask(board.shots[0], "kf", "clipkey"), motion, board, analysis,
                          ctx, cache)
    assert stored is keep
    assert cache.path("clip", "clipkey", ".mkv").is_file() is keep


def test_the_local_path_and_the_ray_task_share_the_clip_function(tmp_path):
    board, analysis, cache, ctx = one_shot(tmp_path)
    task = ClipTask(board.shots[0], "kf", "k2", model="the-model")
    clip = run_clip_task(task, FlatMotion(), board, analysis, ctx, cache, store=False)
    assert len(list(clip)) == 6 and not cache.path("clip", "k2", ".mkv").exists()
    clip = run_clip_task(task, FlatMotion(), board, analysis, ctx, cache, store=True)
    assert not cache.path("clip", "k2", ".mkv").exists()  # written while it streams
    assert len(list(clip)) == 6 and cache.path("clip", "k2", ".mkv").is_file()
    assert FlatMotion.seen_models[-2:] == ["the-model", "the-model"]


def test_the_clip_function_checks_frame_counts_and_tags_errors(tmp_path):
    board, analysis, cache, ctx = one_shot(tmp_path)

    class Short(FlatMotion):
        name = "short"

        def animate(self, keyframe, shot, storyboard, analysis, ctx):
            clip = super().animate(keyframe, shot, storyboard, analysis, ctx)
            clip.frame_count -= 1
            return clip

    class Broken(FlatMotion):
        name = "broken"

        def animate(self, *args):
            raise MusicVidError("no motion today")

    task = ClipTask(board.shots[0], "kf", "k")
    with pytest.raises(MusicVidError, match="5 frames for shot 0 of 6") as info:
        run_clip_task(task, Short(), board, analysis, ctx, cache, store=True)
    assert (info.value.stage, info.value.plugin) == ("motion", "short")
    with pytest.raises(MusicVidError, match="no motion today") as info:
        run_clip_task(task, Broken(), board, analysis, ctx, cache, store=True)
    assert (info.value.stage, info.value.plugin) == ("motion", "broken")


class FlatPlugin:
    @hookimpl
    def register_motion_generators(self, register):
        register(FlatMotion)


def test_keyframe_model_names_the_generator_that_ran(tmp_path, click, tiny_models, fakes):
    get_plugin_manager().register(FlatPlugin(), name="flat")
    FlatMotion.seen_models = []
    audio, _ = click(duration=3.0)
    render(audio, tmp_path / "v.mp4", keyframes="solid", motion="flat", width=64, height=32,
           keyframe_width=32, keyframe_height=16)
    assert FlatMotion.seen_models and set(FlatMotion.seen_models) == {"solid"}

    def model_of(**options):
        with closing(Pipeline(RenderConfig.create(**options))) as pipe:
            return pipe.keyframe_model()

    assert model_of(keyframes="sdxl", sdxl_model=str(tiny_models["sdxl"])) == \
        str(tiny_models["sdxl"])
    assert model_of(keyframes="images", images=tmp_path) == "images"
    ctx = StageContext(RenderConfig.create(), "keyframes")
    from musicvid.defaults.images_keyframes import ImageKeyframes

    assert keyframe_model(ImageKeyframes(), ctx) == "images"
