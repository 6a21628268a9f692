"""The contract kit catches broken stages, and plugin authors reach it through the pytest
plugin."""


pytest_plugins = ["pytester"]

BROKEN = '''
import itertools

import numpy as np
import pytest
from PIL import Image

from musicvid.testing import SolidKeyframes
from musicvid.testing.pytest_plugin import KeyframeGeneratorContract, MotionGeneratorContract
from musicvid.types import Clip


class Drifting(SolidKeyframes):
    """Each call paints a little brighter; the key holds a set; cancel is ignored."""

    name = "drifting"
    batch_size = 2

    def __init__(self):
        self.calls = itertools.count()

    def cache_key_parts(self, ctx):
        return {"w": ctx.config.keyframe_width, "tags": {"a"}}

    def generate(self, shots, ctx):
        step = next(self.calls)
        return [Image.new("RGB", (ctx.config.keyframe_width, ctx.config.keyframe_height),
                          (s.seed % 200 + step, 0, 0)) for s in shots]


class TestDrifting(KeyframeGeneratorContract):
    @pytest.fixture
    def make_stage(self):
        return Drifting


class ShortI420:
    """RGB frames right, its I420 frames one short; the cache key ignores the options."""

    name = "short-i420"
    cacheable = False

    def cache_key_parts(self, ctx):
        return {"v": 1}

    def animate(self, keyframe, shot, board, analysis, ctx):
        w, h, n = board.width, board.height, shot.frame_count

        def rgb():
            for _ in range(n):
                yield np.zeros((h, w, 3), np.uint8)

        def i420():
            for _ in range(n - 1):
                yield np.zeros((h * 3 // 2, w), np.uint8)

        return Clip(n, w, h, rgb, yuv420=i420)


class TestShortI420(MotionGeneratorContract):
    key_changes = [{"fps": 24}]

    @pytest.fixture
    def make_stage(self):
        return ShortI420
'''


def test_broken_stages_fail_the_checks_they_break(pytester):
    pytester.makepyfile(test_broken=BROKEN)
    reports = pytester.inline_run("-q", "-p", "no:cacheprovider").getreports(
        "pytest_runtest_logreport")
    failed = sorted(r.nodeid.split("::", 1)[1] for r in reports if r.when == "call" and r.failed)
    assert failed == [
        "TestDrifting::test_a_batch_equals_single_calls",
        "TestDrifting::test_cache_key_parts_are_stable_json_and_follow_the_options",
        "TestDrifting::test_cancel_raises_render_cancelled",
        "TestDrifting::test_reused_for_a_second_render",
        "TestShortI420::test_cache_key_parts_are_stable_json_and_follow_the_options",
        "TestShortI420::test_clips_have_exactly_the_shot_frame_count_in_rgb_and_i420",
    ]
    passed = {r.nodeid.split("::", 1)[1] for r in reports if r.when == "call" and r.passed}
    assert {"TestDrifting::test_one_image_per_shot_at_the_keyframe_size",
            "TestDrifting::test_the_seed_decides_the_image",  # each new stage starts afresh
            "TestDrifting::test_errors_are_tagged", "TestShortI420::test_errors_are_tagged",
            "TestShortI420::test_the_same_inputs_make_the_same_frames",
            "TestShortI420::test_cancel_stops_between_shots"} <= passed


def test_a_contract_without_make_stage_says_what_is_missing(pytester):
    pytester.makepyfile(test_missing='''
from musicvid.testing.contract import AnalyzerContract


class TestNothing(AnalyzerContract):
    pass
''')
    result = pytester.runpytest("-q", "-p", "no:cacheprovider", "-k", "has_a_name")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*TestNothing must define a make_stage fixture*"])
