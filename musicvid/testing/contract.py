"""Contract tests every stage should pass: inherit one, supply the stage, run pytest.

One class per stage kind (:class:`AnalyzerContract`, :class:`KeyframeGeneratorContract`,
:class:`MotionGeneratorContract`, :class:`CompositorContract`). A test class inherits it
and defines the ``make_stage`` fixture (a callable that returns a new stage object) and,
when the stage needs them, ``render_options`` (the :class:`~musicvid.RenderConfig` fields
of the test renders: model paths, sizes) and class attributes that describe it::

    from musicvid.testing.contract import AnalyzerContract

    class TestMyAnalyzer(AnalyzerContract):
        @pytest.fixture
        def make_stage(self):
            return MyAnalyzer

The inherited ``test_*`` methods check what the pipeline relies on: output count and
size, reproducibility from the seed, batches equal to single calls, JSON cache key parts
that stay put and change with the options, exact clip frame counts in RGB and I420,
cancellation, errors tagged with stage and plugin, and a stage object reused for another
render giving the same result. The fixtures they use (``musicvid_click_track``) come
from the ``musicvid.testing`` pytest plugin.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

import pytest

from ..cache import cache_key
from ..config import RenderConfig
from ..errors import MusicVidError, RenderCancelled
from ..protocols import StageContext
from ..types import Analysis, Section, Shot, Storyboard
from .helpers import SMALL

__all__ = ["AnalyzerContract", "CompositorContract", "KeyedContract",  # noqa: F822
           "KeyframeGeneratorContract", "MotionGeneratorContract", "StageContract",
           "analysis_of", "board_of", "pipeline_with", "stage_context", "with_changes"]


def stage_context(config: RenderConfig, stage: str, storyboard: Storyboard | None = None,
                  cancelled: Callable[[], bool] | None = None) -> StageContext:
    """A context like the pipeline's: the storyboard in ``extra``, an optional cancel."""
    extra: dict[str, Any] = {} if storyboard is None else {"storyboard": storyboard}
    return StageContext(config, stage, is_cancelled=cancelled or (lambda: False), extra=extra)


def pipeline_with(kind: str, stage: Any, config: RenderConfig, **kwargs: Any) -> Any:
    """A :class:`~musicvid.Pipeline` whose ``kind`` stage is ``stage`` (not looked up)."""
    from ..pipeline import Pipeline

    class _With(Pipeline):
        def stage(self, k: str) -> Any:
            return stage if k == kind else super().stage(k)

    return _With(config, **kwargs)


def with_changes(config: RenderConfig, change: dict[str, Any]) -> RenderConfig:
    """``config`` with ``change`` applied; an ``options`` dict adds to the config's."""
    change = dict(change)
    if "options" in change:
        change["options"] = {**config.options, **change["options"]}
    return config.replace(**change)


def _failing(stage: Any, method: str, error: Exception) -> Any:
    """A copy of ``stage`` whose ``method`` raises ``error``."""
    broken = copy.copy(stage)

    def fail(*args: Any, **kwargs: Any) -> Any:
        raise error

    setattr(broken, method, fail)
    return broken


class StageContract:
    """What every stage kind shares. Subclasses set ``kind``, ``pipeline_stage`` (the name
    the pipeline tags this kind's errors with) and ``method`` (the stage's work)."""

    kind = ""
    pipeline_stage = ""
    method = ""
    #: RenderConfig changes (``{"steps": 3}``, ``{"options": {"svd_steps": "3"}}``), each
    #: of which must change the stage's cache key parts
    key_changes: list[dict[str, Any]] = []

    @pytest.fixture
    def make_stage(self) -> Callable[[], Any]:
        pytest.fail(f"{type(self).__name__} must define a make_stage fixture returning a "
                    "callable that makes the stage")

    @pytest.fixture
    def render_options(self) -> dict[str, Any]:
        return dict(SMALL)

    @pytest.fixture
    def config(self, render_options: dict[str, Any], tmp_path: Any) -> RenderConfig:
        return RenderConfig.create(**{"cache_dir": tmp_path / "contract-cache",
                                      **render_options})

    def ready(self, make_stage: Callable[[], Any], config: RenderConfig) -> Any:
        """A new stage, preflighted as the pipeline does before a render."""
        stage = make_stage()
        check = getattr(stage, "preflight", None)
        if check is not None:
            check(stage_context(config, self.pipeline_stage))
        return stage

    def check_tagged(self, stage: Any, run: Callable[[Any], Any]) -> None:
        """``run(stage)`` through the pipeline: an untagged :class:`MusicVidError` from
        the stage comes out tagged with stage and plugin, a tagged one keeps its tags."""
        with pytest.raises(MusicVidError, match="contract failure") as info:
            run(_failing(stage, self.method, MusicVidError("contract failure")))
        assert (info.value.stage, info.value.plugin) == (self.pipeline_stage, stage.name)
        tagged = MusicVidError("contract failure", stage="elsewhere", plugin="another")
        with pytest.raises(MusicVidError, match="contract failure") as info:
            run(_failing(stage, self.method, tagged))
        assert (info.value.stage, info.value.plugin) == ("elsewhere", "another")

    def test_has_a_name(self, make_stage: Callable[[], Any]) -> None:
        name = make_stage().name
        assert isinstance(name, str) and name.strip() == name and name


class KeyedContract(StageContract):
    """Stages whose results the pipeline caches under their ``cache_key_parts(ctx)``."""

    def test_cache_key_parts_are_stable_json_and_follow_the_options(
            self, make_stage: Callable[[], Any], config: RenderConfig) -> None:
        stage = self.ready(make_stage, config)
        if not hasattr(stage, "cache_key_parts"):
            pytest.fail(f"a {self.kind} stage needs cache_key_parts(ctx)")
        ctx = stage_context(config, self.pipeline_stage)
        parts = stage.cache_key_parts(ctx)
        assert isinstance(parts, dict)
        text = json.dumps(parts, sort_keys=True)  # plain JSON, no custom encoder
        assert json.dumps(stage.cache_key_parts(ctx), sort_keys=True) == text
        other = self.ready(make_stage, config)
        assert json.dumps(other.cache_key_parts(ctx), sort_keys=True) == text
        keys = {cache_key(self.kind, parts)}
        for change in self.key_changes:
            changed = stage.cache_key_parts(stage_context(with_changes(config, change),
                                                          self.pipeline_stage))
            keys.add(cache_key(self.kind, changed))
            assert changed != parts, f"{change} did not change the cache key parts"
        assert len(keys) == 1 + len(self.key_changes)
        assert stage.cache_key_parts(ctx) == parts  # asking with other options changed nothing


# -- analyzers ------------------------------------------------------------------------------
class AnalyzerContract(StageContract):
    """An :class:`~musicvid.protocols.Analyzer` on click tracks."""

    kind, pipeline_stage, method = "analyzer", "analyze", "analyze"
    bpm, duration = 120.0, 6.0
    duration_tolerance = 0.05  # seconds

    @pytest.fixture
    def audio(self, musicvid_click_track: Any) -> Any:
        return musicvid_click_track(bpm=self.bpm, duration=self.duration)[0]

    @pytest.fixture
    def other_audio(self, musicvid_click_track: Any) -> Any:
        return musicvid_click_track(bpm=self.bpm * 0.75, duration=self.duration * 0.75,
                                    name="other.wav")[0]

    def analyze(self, stage: Any, audio: Any, config: RenderConfig,
                cancelled: Callable[[], bool] | None = None) -> Analysis:
        result = stage.analyze(audio, stage_context(config, "analyze", cancelled=cancelled))
        assert isinstance(result, Analysis)
        return result

    def test_the_cache_key_is_stable_json(self, make_stage: Callable[[], Any]) -> None:
        # an analysis is keyed on the analyzer's name and version (see Pipeline.analyze)
        a, b = make_stage(), make_stage()
        parts = {"analyzer": a.name, "version": getattr(a, "version", 1)}
        assert json.loads(json.dumps(parts)) == parts
        assert parts == {"analyzer": b.name, "version": getattr(b, "version", 1)}

    def test_the_analysis_covers_the_song(self, make_stage: Callable[[], Any], audio: Any,
                                          config: RenderConfig) -> None:
        a = self.analyze(self.ready(make_stage, config), audio, config)
        assert abs(a.duration - self.duration) <= self.duration_tolerance
        assert a.beats == sorted(a.beats) and all(0 <= t <= a.duration for t in a.beats)
        assert a.downbeats == sorted(a.downbeats)
        assert all(0 <= t <= a.duration for t in a.downbeats)
        assert a.sections and all(0 <= s.start < s.end <= a.duration + 1e-6
                                  for s in a.sections)
        if a.curve_fps:
            n = round(a.duration * a.curve_fps)
            assert abs(len(a.energy) - n) <= 1 and abs(len(a.onset) - n) <= 1
        data = a.to_dict()
        assert Analysis.from_dict(json.loads(json.dumps(data))).to_dict() == data

    def test_same_audio_same_analysis(self, make_stage: Callable[[], Any], audio: Any,
                                      config: RenderConfig) -> None:
        stage = self.ready(make_stage, config)
        first = self.analyze(stage, audio, config).to_dict()
        assert self.analyze(self.ready(make_stage, config), audio, config).to_dict() == first

    def test_cancel_raises_render_cancelled(self, make_stage: Callable[[], Any], audio: Any,
                                            config: RenderConfig) -> None:
        with pytest.raises(RenderCancelled):
            self.analyze(self.ready(make_stage, config), audio, config, lambda: True)

    def test_errors_are_tagged(self, make_stage: Callable[[], Any], audio: Any,
                               config: RenderConfig) -> None:
        self.check_tagged(self.ready(make_stage, config),
                          lambda s: pipeline_with("analyzer", s, config).analyze(audio))

    def test_reused_for_a_second_render(self, make_stage: Callable[[], Any], audio: Any,
                                        other_audio: Any, config: RenderConfig) -> None:
        stage = self.ready(make_stage, config)
        first = self.analyze(stage, audio, config).to_dict()
        other = self.analyze(stage, other_audio, config.replace(fps=24)).to_dict()
        assert other != first
        assert self.analyze(stage, audio, config).to_dict() == first


# -- keyframe generators --------------------------------------------------------------------
def board_of(lengths: list[int], config: RenderConfig, seed: int = 11,
             prompt: str = "a lighthouse at night") -> Storyboard:
    """A storyboard of shots ``lengths`` frames long, energies rising, seeds from ``seed``."""
    shots, start = [], 0
    for i, n in enumerate(lengths):
        shots.append(Shot(i, start, start + n, f"{prompt}, view {i}", seed=seed + i,
                          energy=round(0.2 + 0.6 * i / max(1, len(lengths) - 1), 3)))
        start += n
    return Storyboard(fps=config.fps, frame_count=start, shots=shots, width=config.width,
                      height=config.height)


def analysis_of(board: Storyboard) -> Analysis:
    """A steady 120 BPM analysis of ``board``'s length, one section."""
    dur = board.frame_count / float(board.fps)
    beats = [i * 0.5 for i in range(int(dur / 0.5) + 1) if i * 0.5 < dur]
    return Analysis(duration=dur, sample_rate=22050, tempo=120.0, beats=beats,
                    downbeats=beats[::4], sections=[Section(0.0, dur, "verse", 0, 0.6)])


def pixels(images: list[Any]) -> list[Any]:
    import numpy as np

    return [np.asarray(im.convert("RGB"), dtype=np.int16) for im in images]


class KeyframeGeneratorContract(KeyedContract):
    """A :class:`~musicvid.protocols.KeyframeGenerator`."""

    kind, pipeline_stage, method = "keyframes", "keyframes", "generate"
    seeded = True  # different seeds make different images (not so for the user's pictures)
    batch_tolerance = 0  # the most a pixel may differ between a batch and single calls

    def expected_size(self, config: RenderConfig) -> tuple[int, int]:
        return (config.keyframe_width // 8) * 8, (config.keyframe_height // 8) * 8

    def generate(self, stage: Any, board: Storyboard, config: RenderConfig,
                 shots: list[Shot] | None = None,
                 cancelled: Callable[[], bool] | None = None) -> list[Any]:
        shots = list(board.shots) if shots is None else shots
        ctx = stage_context(config, "keyframes", board, cancelled)
        images = stage.generate(shots, ctx)
        assert len(images) == len(shots), f"{len(images)} images for {len(shots)} shots"
        return list(images)

    def batch(self, stage: Any) -> int:
        return max(1, min(3, int(stage.batch_size)))

    def test_one_image_per_shot_at_the_keyframe_size(self, make_stage: Callable[[], Any],
                                                      config: RenderConfig) -> None:
        stage = self.ready(make_stage, config)
        board = board_of([10] * self.batch(stage), config)
        for n in sorted({1, len(board.shots)}):
            for im in self.generate(stage, board, config, board.shots[:n]):
                assert im.mode == "RGB" and im.size == self.expected_size(config)

    def test_the_seed_decides_the_image(self, make_stage: Callable[[], Any],
                                        config: RenderConfig) -> None:
        board = board_of([10], config)
        first = pixels(self.generate(self.ready(make_stage, config), board, config))
        again = pixels(self.generate(self.ready(make_stage, config), board, config))
        assert (first[0] == again[0]).all()
        if self.seeded:
            reseeded = board_of([10], config, seed=12345)
            reseeded.shots[0].prompt = board.shots[0].prompt
            other = pixels(self.generate(self.ready(make_stage, config), reseeded, config))
            assert abs(other[0] - first[0]).mean() > 0.5

    def test_a_batch_equals_single_calls(self, make_stage: Callable[[], Any],
                                         config: RenderConfig) -> None:
        stage = self.ready(make_stage, config)
        board = board_of([10] * self.batch(stage), config)
        together = pixels(self.generate(stage, board, config))
        alone = [pixels(self.generate(stage, board, config, [s]))[0] for s in board.shots]
        for a, b in zip(together, alone, strict=True):
            assert abs(a - b).max() <= self.batch_tolerance

    def test_cancel_raises_render_cancelled(self, make_stage: Callable[[], Any],
                                            config: RenderConfig) -> None:
        stage = self.ready(make_stage, config)
        board = board_of([10] * self.batch(stage), config)
        with pytest.raises(RenderCancelled):
            self.generate(stage, board, config, cancelled=lambda: True)

    def test_errors_are_tagged(self, make_stage: Callable[[], Any],
                               config: RenderConfig) -> None:
        board = board_of([10, 10], config)
        self.check_tagged(self.ready(make_stage, config),
                          lambda s: pipeline_with("keyframes", s, config).keyframes(board))

    def test_reused_for_a_second_render(self, make_stage: Callable[[], Any],
                                        config: RenderConfig) -> None:
        stage = self.ready(make_stage, config)
        board = board_of([10, 10], config)
        first = pixels(self.generate(stage, board, config))
        other_config = with_changes(config, self.key_changes[0]) if self.key_changes else config
        self.generate(stage, board_of([10], config, seed=99, prompt="a desert"), other_config)
        again = pixels(self.generate(stage, board, config))
        fresh = pixels(self.generate(self.ready(make_stage, config), board, config))
        assert len(first) == len(again) == len(fresh) == 2
        for a, b, c in zip(first, again, fresh, strict=True):
            assert (a == b).all() and (a == c).all()


def __getattr__(name: str) -> Any:
    """The motion and compositor contracts live in :mod:`.contract_video`."""
    if name in ("CompositorContract", "MotionGeneratorContract"):
        from . import contract_video

        return getattr(contract_video, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
