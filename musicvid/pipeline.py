"""Runs the stages: analysis -> plan -> keyframes -> motion -> composite.

Every costly result is cached on disk under a content hash (see :mod:`musicvid.cache`),
progress goes to one callback, and cancellation is checked between units of work.
Keyframes go to disk as soon as they exist and are read back one shot at a time, so
memory does not grow with the song's length.

:class:`Pipeline` holds the stages, cache, executor and stats and runs the steps in
order; the phases live beside it: :mod:`musicvid._lyrics_phase` (timed words for the
plan), :mod:`musicvid._keyframe_phase` (keyframe keys, batches, the background feed, the
contact sheet) and :mod:`musicvid._video_phase` (clips streamed into the compositor, then
captions and the sync report). Each phase reaches the stages through ``pipe.stage``, so
a subclass or a ``stage_factory`` decides what runs.
"""

from __future__ import annotations

import logging
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import _keyframe_phase, _lyrics_phase, _video_phase, cache_keys, planning
from ._keyframe_phase import KeyframeFeed
from ._paths_check import check_audio_path, check_output_path
from .budget import BudgetPlan, BudgetTracker
from .cache import Cache, file_sha256
from .config import Palette, RenderConfig
from .errors import StoryboardError, tagged
from .executors.base import get_executor, keyframe_model, load_keyframe
from .grade import grade_for
from .plugins import get_plugin_manager, get_stage
from .protocols import CompositeResult, ProgressCallback, StageContext
from .stages import check_stage_object, stage_options_key, stage_version, validate_stage_options
from .sync import SyncReport
from .types import Analysis, Clip, Keyframe, Shot, Storyboard, frame_count_for

if TYPE_CHECKING:  # pragma: no cover
    from .lyrics import Lyrics

__all__ = ["Pipeline", "RenderResult", "StageFactory", "analyze", "create_stage", "render"]

log = logging.getLogger(__name__)

CancelSignal = Callable[[], bool] | threading.Event | None
StageFactory = Callable[[str, str, RenderConfig], Any]
"""``factory(kind, name, config)`` -> the stage object (a server shares them between jobs)."""

STAGE_OF = {"analyzer": "analyze", "keyframes": "keyframes", "motion": "motion",
            "compositor": "composite"}


def create_stage(kind: str, name: str, config: RenderConfig) -> Any:
    """A new stage object of ``kind`` registered as ``name``, checked against its kind."""
    entry = get_stage(kind, name)
    stage = entry.factory()
    check_stage_object(kind, stage, entry.plugin)
    return stage


@dataclass
class RenderResult:
    output: Path
    analysis: Analysis
    storyboard: Storyboard
    composite: CompositeResult
    stats: dict[str, Any] = field(default_factory=dict)
    sync: SyncReport | None = None  # also written beside the video as OUT.sync.json
    contact_sheet: Path | None = None


def _cancel_fn(cancel: CancelSignal) -> Callable[[], bool]:
    if cancel is None:
        return lambda: False
    if isinstance(cancel, threading.Event):
        return cancel.is_set
    return cancel


def _check_given_storyboard(board: Storyboard, analysis: Analysis) -> None:
    """A storyboard handed to :meth:`Pipeline.render` must be valid and fit this song."""
    board.validate()
    expected = frame_count_for(analysis.duration, board.fps)
    if board.frame_count != expected:
        raise StoryboardError(
            f"the storyboard has {board.frame_count} frames but this song needs "
            f"{expected} at {board.fps} fps: was it planned for another song?")


def _config_of(config: RenderConfig | None, options: dict[str, Any]) -> RenderConfig:
    """``config`` with ``options`` applied, or the default profile's with them."""
    if config is None:
        return RenderConfig.create(**options)
    return config.replace(**options) if options else config


class Pipeline:
    """One render's worth of stage wiring; reusable for several renders of one config."""

    def __init__(self, config: RenderConfig | None = None, *,
                 progress: ProgressCallback | None = None, cancel: CancelSignal = None,
                 stage_factory: StageFactory | None = None):
        self.config = config or RenderConfig.create()
        self._factory = stage_factory or create_stage
        self._progress = progress or (lambda stage, done, total, message: None)
        self._user_progress = self._progress
        self.ctx = StageContext(self.config, "", self._progress, _cancel_fn(cancel))
        root = self.config.cache_root()
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        if not self.config.use_cache:  # still spill keyframes to disk, just not to keep
            self._tmp = tempfile.TemporaryDirectory(prefix="musicvid-")
            root = Path(self._tmp.name)
        self.cache = Cache(root)
        self.stats: dict[str, Any] = {"keyframes_generated": 0, "keyframes_cached": 0,
                                      "analysis_cached": False, "timings": {}}
        self._stages: dict[str, Any] = {}
        self._budget: BudgetPlan | None = None
        self._executor: Any = None
        self._options_checked = False
        self._audio: Path | None = None
        self._given_lyrics: Lyrics | None = None

    # -- stages -------------------------------------------------------------------------
    def stage(self, kind: str) -> Any:
        """The stage object of ``kind`` named in the config (created once)."""
        if kind not in self._stages:
            name = getattr(self.config, kind)
            self._stages[kind] = self._factory(kind, name, self.config)
        return self._stages[kind]

    @property
    def executor(self) -> Any:
        if self._executor is None:
            self._executor = get_executor(self.config.executor, self.stage, self.config)
        return self._executor

    def check_options(self) -> None:
        """Every ``--option`` must belong to one of the selected stages."""
        if not self._options_checked:
            stages = {k: self.stage(k) for k in STAGE_OF}
            stages["transcriber"] = self.stage("transcriber")  # its options, even if unused
            validate_stage_options(self.config.options, stages)
            self._options_checked = True

    def preflight(self) -> None:
        """Let each stage fail fast (missing torch, bad model option) before any work."""
        self.check_options()
        for kind, stage_name in STAGE_OF.items():
            self.preflight_stage(kind, stage_name)
        _lyrics_phase.preflight_lyrics(self)

    def preflight_stage(self, kind: str, stage_name: str) -> None:
        """The ``kind`` stage's own ``preflight`` (if it has one), errors tagged."""
        stage = self.stage(kind)
        check = getattr(stage, "preflight", None)
        if check is not None:
            with tagged(stage_name, stage.name):
                check(self._ctx(stage_name))

    def stage_identity(self, kind: str, ctx: StageContext) -> dict[str, Any]:
        """The stage's name, version, parsed options and own key parts, for cache keys."""
        stage = self.stage(kind)
        parts = stage.cache_key_parts(ctx) if hasattr(stage, "cache_key_parts") else {}
        return cache_keys.stage_parts(stage.name, stage_version(stage),
                                      stage_options_key(stage, ctx), parts)

    def _ctx(self, stage: str) -> StageContext:
        return self.ctx.for_stage(stage)

    def _timed(self, name: str, t0: float) -> None:
        dt = time.perf_counter() - t0
        self.stats["timings"][name] = round(dt, 3)
        log.info("stage %s took %.2fs", name, dt)

    # -- analysis -----------------------------------------------------------------------
    def analyze(self, audio: str | Path) -> Analysis:
        audio = Path(audio)
        ctx = self._ctx("analyze")
        ctx.check_cancelled()
        check_audio_path(audio)
        self.check_options()
        t0 = time.perf_counter()
        self._audio = audio
        sha = file_sha256(audio)
        analyzer = self.stage("analyzer")
        key = cache_keys.analysis_key(sha, self.stage_identity("analyzer", ctx), self.config.fps)
        cached = self.cache.get_json("analysis", key, Analysis.from_dict)
        if cached is not None:
            self.stats["analysis_cached"] = True
            ctx.progress(1, 1, "analysis from cache")
            return cached  # type: ignore[no-any-return]
        with tagged("analyze", analyzer.name):
            analysis = analyzer.analyze(audio, ctx)
        analysis.audio_sha256 = sha
        self.cache.put_json("analysis", key, analysis.to_dict())
        self._timed("analyze", t0)
        return analysis

    # -- lyrics (musicvid._lyrics_phase) ------------------------------------------------
    def transcribe(self, audio: str | Path) -> Lyrics:
        """The transcriber's timed words for ``audio`` (cached)."""
        return _lyrics_phase.transcribe(self, audio)

    def lyrics(self, analysis: Analysis, audio: str | Path | None = None) -> Lyrics | None:
        """The song's timed lyrics: the ``lyrics`` file (plain text aligned to a
        transcript), else a transcript when ``transcribe`` is on, else None."""
        return _lyrics_phase.song_lyrics(self, analysis, audio)

    # -- planning -----------------------------------------------------------------------
    def plan(self, analysis: Analysis) -> Storyboard:
        ctx = self._ctx("plan")
        board = planning.plan(analysis, self.config)
        lyrics = self.lyrics(analysis)
        if lyrics is not None:
            from .lyrics import apply_lyrics

            board = apply_lyrics(board, analysis, lyrics, self.config,
                                 planning.min_shot_frames(self.config))
        for result in get_plugin_manager().hook.adjust_storyboard(
                storyboard=board, analysis=analysis, config=self.config):
            if isinstance(result, Storyboard):
                board = result
        board.validate()
        ctx.progress(1, 1, f"{len(board.shots)} shots")
        return board

    # -- time budget --------------------------------------------------------------------
    def _set_config(self, config: RenderConfig) -> None:
        self.config = config
        self.ctx.config = config

    def fit_budget(self, analysis: Analysis, started: float) -> BudgetPlan | None:
        """Choose keyframe count, steps and size to fit ``config.time_budget`` minutes."""
        from .budget import fit_budget

        fitted = fit_budget(self, analysis, started)
        if fitted is None:
            return None
        plan, config = fitted
        self._set_config(config)
        self.stats["budget"] = plan.to_dict()
        # from here on the estimate is updated from what the run measures
        tracker = BudgetTracker(plan, started, self._user_progress)
        self._progress = self.ctx.progress_callback = tracker
        self._budget = plan
        return plan

    # -- keyframes (musicvid._keyframe_phase) -------------------------------------------
    def keyframe_keys(self, board: Storyboard) -> dict[int, str]:
        """Shot index -> the cache key of its keyframe (nothing is generated)."""
        return _keyframe_phase.keyframe_keys(self, board)

    def keyframes(self, board: Storyboard) -> dict[int, str]:
        """Make sure every shot's keyframe is on disk; returns shot index -> cache key."""
        keys, tasks, ctx = _keyframe_phase.keyframe_tasks(self, board)
        _keyframe_phase.run_keyframe_tasks(self, tasks, ctx)
        return keys

    def overlaps_keyframes(self) -> bool:
        """Whether keyframes for later shots are made while earlier shots are encoded
        (``config.overlap``; ``auto`` decides by stages and device)."""
        return _keyframe_phase.overlaps_keyframes(self)

    def stream_keyframes(self, board: Storyboard) -> tuple[dict[int, str], KeyframeFeed]:
        """Start making the missing keyframes, in shot order, on a background thread;
        returns the keys and the feed :meth:`clips` waits on for each shot's keyframe."""
        return _keyframe_phase.stream_keyframes(self, board)

    def grade_of(self, board: Storyboard) -> tuple[Palette, float]:
        """The colour grade for ``board``: its ``meta["grade"]`` (so a saved plan renders
        as planned), else the config's palette and ``grade`` strength."""
        return grade_for(board, self.config)

    def load_keyframe(self, shot: Shot, key: str,
                      grade: tuple[Palette, float] | None = None) -> Keyframe:
        """Read a keyframe from the cache, colour-graded by ``grade`` (palette, strength)."""
        return load_keyframe(self.cache, shot, key, self.keyframe_model(), grade)

    def keyframe_model(self) -> str:
        """What makes this render's keyframes (:attr:`Keyframe.model`)."""
        return keyframe_model(self.stage("keyframes"), self._ctx("keyframes"))

    def contact_sheet(self, board: Storyboard, path: str | Path,
                      keys: dict[int, str] | None = None) -> tuple[Path, int]:
        """Write ``board``'s contact sheet with the (graded) keyframes found in the cache;
        returns the path and how many shots had a keyframe."""
        return _keyframe_phase.contact_sheet(self, board, path, keys)

    # -- motion (musicvid._video_phase) -------------------------------------------------
    def _clip_key(self, identity: dict[str, Any], shot: Shot, board: Storyboard,
                  analysis: Analysis, keys: dict[int, str]) -> str:
        return _video_phase.clip_key(self, identity, shot, board, analysis, keys)

    def prefetch_clips(self, board: Storyboard, analysis: Analysis, keys: dict[int, str]) -> None:
        """Fan cacheable motion clips out to the executor before compositing (Ray)."""
        _video_phase.prefetch_clips(self, board, analysis, keys)

    def clips(self, board: Storyboard, analysis: Analysis, keys: dict[int, str],
              feed: KeyframeFeed | None = None) -> Iterator[Clip]:
        """One clip per shot, in order, keyframes read from disk as needed; with
        ``feed``, each shot first waits for its keyframe to be made."""
        return _video_phase.clips(self, board, analysis, keys, feed)

    # -- the whole render: analysis -> storyboard -> keyframes -> motion -> composite --
    def render(self, audio: str | Path, output: str | Path,
               storyboard: Storyboard | None = None,
               contact_sheet: str | Path | None = None) -> RenderResult:
        t_all = time.perf_counter()
        audio, output = Path(audio), Path(output)
        check_output_path(audio, output)
        self.preflight()
        analysis = self.analyze(audio)
        if storyboard is None:
            if self.config.time_budget:
                self.fit_budget(analysis, t_all)
            storyboard = self.plan(analysis)
        else:
            _check_given_storyboard(storyboard, analysis)
        feed = None
        if self.overlaps_keyframes():
            keys, feed = self.stream_keyframes(storyboard)
        else:
            keys = self.keyframes(storyboard)
            self.prefetch_clips(storyboard, analysis, keys)
        result, report = _video_phase.compose(self, storyboard, analysis, audio, output, keys,
                                              feed)
        sheet = None
        if contact_sheet is not None:
            sheet, _ = self.contact_sheet(storyboard, contact_sheet, keys)
        self.stats["timings"]["total"] = round(time.perf_counter() - t_all, 3)
        if self._budget is not None:
            self.stats["budget"] = self._budget.to_dict()  # with the run's re-estimates
        self.stats["cache_dir"] = str(self.cache.root)
        return RenderResult(result.path, analysis, storyboard, result, dict(self.stats),
                            sync=report, contact_sheet=sheet)

    def close(self) -> None:
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None


def render(audio: str | Path, output: str | Path, config: RenderConfig | None = None, *,
           progress: ProgressCallback | None = None, cancel: CancelSignal = None,
           storyboard: Storyboard | None = None, contact_sheet: str | Path | None = None,
           **options: Any) -> RenderResult:
    """Render ``audio`` to the MP4 ``output``.

    ``options`` are :class:`RenderConfig` fields (``genre="rock", seed=7``...) applied on
    top of ``config`` (or of the default profile). The sync report goes beside the video
    (``out.mp4`` -> ``out.sync.json``); ``contact_sheet`` names a PNG of the keyframes.
    """
    pipe = Pipeline(_config_of(config, options), progress=progress, cancel=cancel)
    try:
        return pipe.render(audio, output, storyboard, contact_sheet)
    finally:
        pipe.close()


def analyze(audio: str | Path, config: RenderConfig | None = None, **options: Any) -> Analysis:
    """Analyze ``audio`` with the configured analyzer (cached); ``options`` as in
    :func:`render`."""
    pipe = Pipeline(_config_of(config, options))
    try:
        return pipe.analyze(audio)
    finally:
        pipe.close()
