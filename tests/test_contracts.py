"""Every built-in stage passes the contract kit (musicvid.testing.contract)."""

import pytest
from PIL import Image

from musicvid.defaults import auto_motion, i2v_motion, sdxl_keyframes, svd_motion, t2i_keyframes
from musicvid.defaults.images_keyframes import ImageKeyframes
from musicvid.defaults.kenburns_motion import KenBurnsMotion
from musicvid.defaults.librosa_analyzer import LibrosaAnalyzer
from musicvid.defaults.pyav_compositor import PyAVCompositor
from musicvid.testing import SMALL, TINY, TINY_SVD_OPTIONS
from musicvid.testing.contract import (
    AnalyzerContract,
    CompositorContract,
    KeyframeGeneratorContract,
    MotionGeneratorContract,
)

#: the tiny Wan in 2 steps, 9 frames of 32x32 a segment
TINY_I2V_OPTIONS = {"i2v_steps": "2", "i2v_frames": "9", "i2v_width": "32", "i2v_height": "32"}


def stage_fixture(stage, forget=None):
    """The ``make_stage`` fixture of a contract class for ``stage``; ``forget`` (the
    stage module's cache of loaded pipelines) is emptied before and after each test."""
    @pytest.fixture
    def make_stage(self):
        if forget:
            forget()
        yield stage
        if forget:
            forget()

    return make_stage


class TestLibrosaAnalyzer(AnalyzerContract):
    make_stage = stage_fixture(LibrosaAnalyzer)


class TestSDXLKeyframes(KeyframeGeneratorContract):
    key_changes = [{"steps": 3}, {"guidance_scale": 2.5}, {"keyframe_width": 32}]
    batch_tolerance = 2  # batched diffusion rounds a little differently

    make_stage = stage_fixture(sdxl_keyframes.SDXLKeyframes, sdxl_keyframes.forget_pipelines)

    @pytest.fixture
    def render_options(self, tiny_models):
        return dict(TINY, keyframe_height=32, batch_size=2, sdxl_model=str(tiny_models["sdxl"]))


class TestImageKeyframes(KeyframeGeneratorContract):
    key_changes = [{"image_order": "energy"}, {"keyframe_width": 32}]
    seeded = False  # the user's pictures, whatever the seed

    make_stage = stage_fixture(ImageKeyframes)

    @pytest.fixture
    def render_options(self, tmp_path):
        folder = tmp_path / "pictures"
        folder.mkdir()
        for i, colour in enumerate([(200, 40, 40), (40, 200, 40), (40, 40, 200)]):
            Image.new("RGB", (120 + 10 * i, 80), colour).save(folder / f"{i}.png")
        return dict(SMALL, keyframes="images", images=folder)


class TestKenBurnsMotion(MotionGeneratorContract):
    make_stage = stage_fixture(KenBurnsMotion)


class TestSVDMotion(MotionGeneratorContract):
    key_changes = [{"options": {"svd_steps": "3"}}, {"options": {"svd_motion_bucket": "30"}},
                   {"svd_model": "another/model"}]
    frame_counts = (1, 30)
    cancels_within_a_shot = True

    make_stage = stage_fixture(svd_motion.SVDMotion, lambda: svd_motion._PIPELINES.clear())

    @pytest.fixture
    def render_options(self, tiny_models):
        return dict(SMALL, motion="svd", svd_model=str(tiny_models["svd"]),
                    options=dict(TINY_SVD_OPTIONS))


class TestAutoMotion(TestSVDMotion):
    """``auto`` without a CUDA GPU: Ken Burns for every shot, never cached."""

    cancels_within_a_shot = False

    make_stage = stage_fixture(auto_motion.AutoMotion)


class TestPyAVCompositor(CompositorContract):
    make_stage = stage_fixture(PyAVCompositor)

    @pytest.fixture
    def render_options(self):
        # x264's presets from veryfast on (lookahead, mbtree) do not encode these moving
        # ramps to the same bits twice with the FFmpeg build in the test environment;
        # ultrafast does, so the same-video checks compare exact frames
        return dict(SMALL, preset="ultrafast")


class AutoWithSVD(auto_motion.AutoMotion):
    """``auto`` as on a GPU: SVD for the shots that fit, here the tiny SVD on the CPU."""

    def svd_possible(self, ctx):
        return True, ""


class TestAutoMotionWithSVD(TestSVDMotion):
    """Shots shorter than ``svd_min_shot`` stay Ken Burns, longer ones get SVD."""

    cancels_within_a_shot = False  # the first shot checked is short: Ken Burns

    make_stage = stage_fixture(AutoWithSVD, lambda: svd_motion._PIPELINES.clear())

    def test_long_shots_get_svd_and_short_ones_ken_burns(self, make_stage, config):
        from musicvid.testing.contract import board_of

        stage = self.ready(make_stage, config)
        board = board_of([5, 30], config)
        kinds = [self.animate(stage, board, i, config).meta["motion"] for i in range(2)]
        assert kinds == ["kenburns", "svd"]


class TestT2IKeyframesFlux(KeyframeGeneratorContract):
    """``t2i`` with the tiny FLUX (sizes in multiples of 16)."""

    key_changes = [{"options": {"t2i_steps": "3"}}, {"keyframe_width": 32}]
    batch_tolerance = 2

    def expected_size(self, config):
        return (config.keyframe_width // 16) * 16, (config.keyframe_height // 16) * 16

    make_stage = stage_fixture(t2i_keyframes.T2IKeyframes, t2i_keyframes.forget_pipelines)

    @pytest.fixture
    def render_options(self, tiny_video_models):
        return dict(TINY, keyframe_height=32, batch_size=2, keyframes="t2i",
                    image_model=str(tiny_video_models["flux"]), options={"t2i_steps": "2"})


class TestI2VMotionWan(MotionGeneratorContract):
    """``i2v`` with the tiny Wan: shots chained from 9-frame segments."""

    key_changes = [{"options": {**TINY_I2V_OPTIONS, "i2v_steps": "3"}},
                   {"options": {**TINY_I2V_OPTIONS, "i2v_frames": "5"}},
                   {"video_model": "another/model"}]
    frame_counts = (1, 30)
    cancels_within_a_shot = True

    make_stage = stage_fixture(i2v_motion.I2VMotion, i2v_motion.forget_pipelines)

    @pytest.fixture
    def render_options(self, tiny_video_models):
        return dict(SMALL, motion="i2v", video_model=str(tiny_video_models["wan"]),
                    options=dict(TINY_I2V_OPTIONS))
