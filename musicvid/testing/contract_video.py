"""The motion and compositor contracts (see :mod:`musicvid.testing.contract`)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from ..config import RenderConfig
from ..errors import RenderCancelled
from ..types import Clip, Keyframe, Storyboard
from .contract import (
    KeyedContract,
    StageContract,
    analysis_of,
    board_of,
    pipeline_with,
    stage_context,
)

__all__ = ["CompositorContract", "MotionGeneratorContract"]


def gradient(width: int, height: int, shift: int = 0) -> Any:
    """An RGB ramp image (different along both axes, so moves and crops show)."""
    import numpy as np

    x = np.linspace(0, 255, width, dtype=np.float32)[None, :]
    y = np.linspace(0, 255, height, dtype=np.float32)[:, None]
    img = np.stack([np.broadcast_to(x, (height, width)), np.broadcast_to(y, (height, width)),
                    np.broadcast_to((x + y) / 2, (height, width))], axis=-1)
    return ((img + shift) % 256).astype(np.uint8)


class MotionGeneratorContract(KeyedContract):
    """A :class:`~musicvid.protocols.MotionGenerator`."""

    kind, pipeline_stage, method = "motion", "motion", "animate"
    frame_counts = (1, 7, 30)  # the shot lengths the frame-count check animates
    #: the most a frame a stage offers in I420 may differ from its RGB frame converted
    i420_tolerance = 4
    #: whether the stage itself stops within a shot when cancelled (long shots: SVD)
    cancels_within_a_shot = False

    def keyframe(self, config: RenderConfig) -> Keyframe:
        from PIL import Image

        image = Image.fromarray(gradient(config.keyframe_width, config.keyframe_height))
        return Keyframe(image, prompt="contract", seed=7, model="contract", key="contract")

    def animate(self, stage: Any, board: Storyboard, index: int, config: RenderConfig,
                cancelled: Callable[[], bool] | None = None) -> Clip:
        ctx = stage_context(config, "motion", board, cancelled)
        clip = stage.animate(self.keyframe(config), board.shots[index], board,
                             analysis_of(board), ctx)
        assert isinstance(clip, Clip)
        return clip

    def frames(self, stage: Any, board: Storyboard, config: RenderConfig) -> list[Any]:
        return [f.copy() for i in range(len(board.shots))
                for f in self.animate(stage, board, i, config)]

    def clips_through_the_pipeline(self, stage: Any, board: Storyboard, config: RenderConfig,
                                   **kwargs: Any) -> Any:
        """The pipeline's clip loop (the local path) with this stage, keyframes cached."""
        pipe = pipeline_with("motion", stage, config, **kwargs)
        pipe.cache.put_image("keyframe", "contract", self.keyframe(config).image)
        return pipe.clips(board, analysis_of(board), {s.index: "contract" for s in board.shots})

    def test_clips_have_exactly_the_shot_frame_count_in_rgb_and_i420(
            self, make_stage: Callable[[], Any], config: RenderConfig) -> None:
        import numpy as np

        from .._video import rgb_to_i420

        stage = self.ready(make_stage, config)
        board = board_of(list(self.frame_counts), config)
        w, h = board.width, board.height
        assert isinstance(stage.cacheable, bool)
        for i, shot in enumerate(board.shots):
            clip = self.animate(stage, board, i, config)
            assert (clip.frame_count, clip.width, clip.height) == (shot.frame_count, w, h)
            rgb = list(clip)
            assert len(rgb) == shot.frame_count
            assert all(f.shape == (h, w, 3) and f.dtype == np.uint8 for f in rgb)
            yuv = list(clip.iter_yuv420())
            assert len(yuv) == shot.frame_count
            assert all(f.shape == (h * 3 // 2, w) and f.dtype == np.uint8 for f in yuv)
            if clip.yuv420 is not None:  # the stage's own I420 frames show the same picture
                for a, b in zip(rgb, yuv, strict=True):
                    diff = np.abs(rgb_to_i420(a).astype(np.int16) - b).max()
                    assert diff <= self.i420_tolerance
            assert len(list(clip)) == shot.frame_count  # a clip can be played again

    def test_the_same_inputs_make_the_same_frames(self, make_stage: Callable[[], Any],
                                                   config: RenderConfig) -> None:
        board = board_of([7, 9], config)
        first = self.frames(self.ready(make_stage, config), board, config)
        again = self.frames(self.ready(make_stage, config), board, config)
        assert len(first) == len(again) == 16
        assert all((a == b).all() for a, b in zip(first, again, strict=True))

    def test_cancel_stops_between_shots(self, make_stage: Callable[[], Any],
                                        config: RenderConfig) -> None:
        stage = self.ready(make_stage, config)
        board = board_of([5, 5, 5], config)
        stop = {"now": False}
        clips = self.clips_through_the_pipeline(stage, board, config,
                                                cancel=lambda: stop["now"])
        assert len(list(next(clips))) == 5
        stop["now"] = True
        with pytest.raises(RenderCancelled):
            next(clips)
        if self.cancels_within_a_shot:
            with pytest.raises(RenderCancelled):
                list(self.animate(stage, board, 0, config, cancelled=lambda: True))

    def test_errors_are_tagged(self, make_stage: Callable[[], Any],
                               config: RenderConfig) -> None:
        board = board_of([5, 5], config)
        self.check_tagged(self.ready(make_stage, config), lambda s: [
            list(c) for c in self.clips_through_the_pipeline(s, board, config)])

    def test_reused_for_a_second_render(self, make_stage: Callable[[], Any],
                                        config: RenderConfig) -> None:
        stage = self.ready(make_stage, config)
        board = board_of([7, 9], config)
        first = self.frames(stage, board, config)
        other_config = config.replace(width=config.width // 2 * 2 - 16)
        self.frames(stage, board_of([11], other_config, seed=99), other_config)
        again = self.frames(stage, board, config)
        fresh = self.frames(self.ready(make_stage, config), board, config)
        assert len(first) == len(again) == len(fresh) == 16
        assert all((a == b).all() and (a == c).all() for a, b, c in zip(first, again, fresh, strict=True))


class CompositorContract(StageContract):
    """A :class:`~musicvid.protocols.Compositor` that writes a video PyAV can read."""

    kind, pipeline_stage, method = "compositor", "composite", "compose"
    frame_counts = (12, 18)

    @pytest.fixture
    def audio(self, musicvid_click_track: Any, config: RenderConfig) -> Path:
        board = board_of(list(self.frame_counts), config)
        return musicvid_click_track(duration=board.frame_count / float(board.fps))[0]

    def clips(self, board: Storyboard, layout: str) -> list[Clip]:
        """A ramp per shot that moves every frame; in I420 too when ``layout`` is i420."""
        from .._video import rgb_to_i420

        out = []
        for shot in board.shots:
            def frames(shot: Any = shot) -> Any:
                for i in range(shot.frame_count):
                    yield gradient(board.width, board.height, 40 * shot.index + 3 * i)

            def yuv(frames: Any = frames) -> Any:
                for f in frames():
                    yield rgb_to_i420(f)

            out.append(Clip(shot.frame_count, board.width, board.height, frames,
                            yuv420=yuv if layout == "i420" else None))
        return out

    def compose(self, stage: Any, board: Storyboard, audio: Path, output: Path,
                config: RenderConfig, layout: str = "rgb",
                cancelled: Callable[[], bool] | None = None) -> Any:
        ctx = stage_context(config, "composite", board, cancelled)
        return stage.compose(iter(self.clips(board, layout)), board, audio, output, ctx)

    @staticmethod
    def decoded(path: Path) -> list[Any]:
        import av

        with av.open(str(path)) as c:
            return [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]

    @pytest.mark.parametrize("layout", ["rgb", "i420"])
    def test_writes_every_frame_of_the_storyboard(self, make_stage: Callable[[], Any],
                                                   config: RenderConfig, audio: Path,
                                                   tmp_path: Path, layout: str) -> None:
        board = board_of(list(self.frame_counts), config)
        out = tmp_path / "contract.mp4"
        result = self.compose(self.ready(make_stage, config), board, audio, out, config, layout)
        assert result.frame_count == board.frame_count and out.is_file()
        frames = self.decoded(out)
        assert len(frames) == board.frame_count
        assert frames[0].shape == (board.height, board.width, 3)

    def test_the_same_inputs_make_the_same_video(self, make_stage: Callable[[], Any],
                                                  config: RenderConfig, audio: Path,
                                                  tmp_path: Path) -> None:
        board = board_of(list(self.frame_counts), config)
        a, b = tmp_path / "a.mp4", tmp_path / "b.mp4"
        self.compose(self.ready(make_stage, config), board, audio, a, config)
        self.compose(self.ready(make_stage, config), board, audio, b, config)
        first, second = self.decoded(a), self.decoded(b)
        assert len(first) == len(second) == board.frame_count
        assert all((x == y).all() for x, y in zip(first, second, strict=True))

    def test_cancel_raises_and_leaves_no_output(self, make_stage: Callable[[], Any],
                                                config: RenderConfig, audio: Path,
                                                tmp_path: Path) -> None:
        board = board_of(list(self.frame_counts), config)
        out = tmp_path / "cancelled.mp4"
        with pytest.raises(RenderCancelled):
            self.compose(self.ready(make_stage, config), board, audio, out, config,
                         cancelled=lambda: True)
        assert not out.exists()

    def test_reused_for_a_second_render(self, make_stage: Callable[[], Any],
                                        config: RenderConfig, audio: Path,
                                        tmp_path: Path) -> None:
        stage = self.ready(make_stage, config)
        board = board_of(list(self.frame_counts), config)
        self.compose(stage, board, audio, tmp_path / "1.mp4", config)
        short = board_of([self.frame_counts[0]], config, seed=99)
        self.compose(stage, short, audio, tmp_path / "2.mp4", config, layout="i420")
        self.compose(stage, board, audio, tmp_path / "3.mp4", config)
        self.compose(self.ready(make_stage, config), board, audio, tmp_path / "4.mp4", config)
        first = self.decoded(tmp_path / "1.mp4")
        assert len(self.decoded(tmp_path / "2.mp4")) == short.frame_count
        for name in ("3.mp4", "4.mp4"):
            assert len(self.decoded(tmp_path / name)) == len(first) == board.frame_count
            assert all((x == y).all() for x, y in zip(first, self.decoded(tmp_path / name),
                                                      strict=True))
