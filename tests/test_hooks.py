"""Behaviour tests for hooks not exercised elsewhere (tests/test_docs.py checks each hook
has one)."""

from pathlib import Path

import numpy as np
from PIL import Image

from musicvid import CompositeResult, get_stage, hookimpl, render
from musicvid.plugins import get_plugin_manager
from musicvid.sync import sync_path
from musicvid.testing import SMALL


class FirstFrames:
    """A compositor that writes the first frame of every shot side by side as a PNG."""

    name = "first-frames"

    def compose(self, clips, storyboard, audio, output, ctx):
        firsts, frames, per_clip = [], 0, []
        for clip in clips:
            n = 0
            for frame in clip:
                if n == 0:
                    firsts.append(frame)
                n += 1
            per_clip.append(n)
            frames += n
        Image.fromarray(np.concatenate(firsts, axis=1)).save(output, format="PNG")
        seconds = frames / float(storyboard.fps)
        return CompositeResult(Path(output), frames, seconds, seconds, "png", "",
                               extra={"per_clip": per_clip})


class CompositorPlugin:
    @hookimpl
    def register_compositors(self, register):
        register(FirstFrames)


def test_register_compositors_swaps_the_compositor(tmp_path, click, fakes):
    get_plugin_manager().register(CompositorPlugin(), name="strip")
    entry = get_stage("compositor", "first-frames")
    assert entry.factory is FirstFrames and entry.plugin == "strip"
    audio, _ = click(duration=6.0)
    out = tmp_path / "strip.png"
    result = render(audio, out, keyframes="solid", compositor="first-frames", **SMALL)
    board = result.storyboard
    assert result.composite.frame_count == board.frame_count == 180
    # clips arrive in shot order, each exactly its shot's length
    assert result.composite.extra["per_clip"] == [s.frame_count for s in board.shots]
    with Image.open(out) as im:
        assert im.size == (160 * len(board.shots), 90)
    assert sync_path(out).is_file()  # the pipeline's sync report works with any compositor
