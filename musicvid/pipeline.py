"""Runs the stages: analysis -> plan -> keyframes -> motion -> composite.

Every costly result is cached on disk under a content hash (see :mod:`musicvid.cache`),
progress goes to one callback, and cancellation is checked between units of work.
Keyframes go to disk as soon as they exist and are read back one shot at a time, so
memory does not grow with the song's length.
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

from . import cache_keys, planning
from ._clipcache import read_clip
from ._paths_check import check_audio_path, check_output_path
from .budget import BudgetPlan, BudgetTracker
from .cache import Cache, file_sha256
from .config import Palette, RenderConfig
from .errors import MusicVidError, StoryboardError, tagged
from .executors.base import (
    ClipTask,
    KeyframeTask,
    get_executor,
    keyframe_model,
    load_keyframe,
    run_clip_task,
)
from .grade import grade_for
from .plugins import get_plugin_manager, get_stage
from .protocols import CompositeResult, ProgressCallback, StageContext
from .stages import (
    check_stage_object,
    stage_batch_size,
    stage_cacheable,
    stage_options_key,
    stage_version,
    validate_stage_options,
)
from .sync import SyncReport, sync_path, sync_report
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


class _KeyframeFeed:
    """Keyframes being made on a background thread: :meth:`wait` blocks until one is on
    disk (or re-raises what stopped the thread); :meth:`close` stops and joins it."""

    def __init__(self, pending: set[str]):
        self.pending = set(pending)
        self.error: BaseException | None = None
        self.stopped = threading.Event()
        self.thread: threading.Thread | None = None
        self._cond = threading.Condition()

    def mark(self, keys: list[str]) -> None:
        with self._cond:
            self.pending.difference_update(keys)
            self._cond.notify_all()

    def fail(self, exc: BaseException) -> None:
        with self._cond:
            self.error = exc
            self._cond.notify_all()

    def wait(self, key: str, check_cancelled: Callable[[], None]) -> None:
        with self._cond:
            while key in self.pending:
                if self.error is not None:
                    raise self.error
                self._cond.wait(0.1)
                check_cancelled()

    def close(self) -> None:
        self.stopped.set()
        if self.thread is not None:
            self.thread.join()


def _cancel_fn(cancel: CancelSignal) -> Callable[[], bool]:
    if cancel is None:
        return lambda: False
    if isinstance(cancel, threading.Event):
        return cancel.is_set
    return cancel


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
            stage = self.stage(kind)
            check = getattr(stage, "preflight", None)
            if check is not None:
                with tagged(stage_name, stage.name):
                    check(self._ctx(stage_name))
        if self.config.lyrics is not None:  # a bad lyrics file fails before any work
            from .lyrics import load_lyrics

            self._given_lyrics = load_lyrics(self.config.lyrics)
        if self._needs_transcript():
            stage = self.stage("transcriber")
            check = getattr(stage, "preflight", None)
            if check is not None:
                with tagged("transcribe", stage.name):
                    check(self._ctx("transcribe"))

    def _needs_transcript(self) -> bool:
        given = self._given_lyrics
        if given is not None:
            return not given.timed
        return bool(self.config.transcribe)

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

    # -- lyrics -------------------------------------------------------------------------
    def transcribe(self, audio: str | Path) -> Lyrics:
        """The transcriber's timed words for ``audio`` (cached)."""
        from .lyrics import Lyrics

        audio = Path(audio)
        ctx = self._ctx("transcribe")
        ctx.check_cancelled()
        stage = self.stage("transcriber")
        key = cache_keys.transcript_key(file_sha256(audio), self.stage_identity("transcriber", ctx))
        cached = self.cache.get_json("transcript", key)
        if cached is not None:
            self.stats["transcript_cached"] = True
            ctx.progress(1, 1, "transcript from cache")
            return Lyrics.from_dict(cached)
        t0 = time.perf_counter()
        with tagged("transcribe", stage.name):
            transcript = stage.transcribe(audio, ctx)
        self.cache.put_json("transcript", key, transcript.to_dict())
        self._timed("transcribe", t0)
        return transcript

    def lyrics(self, analysis: Analysis, audio: str | Path | None = None) -> Lyrics | None:
        """The song's timed lyrics: the ``lyrics`` file (plain text aligned to a
        transcript), else a transcript when ``transcribe`` is on, else None."""
        from .lyrics import align_lyrics, load_lyrics

        c = self.config
        if c.lyrics is None and not c.transcribe:
            return None
        if c.lyrics is not None and self._given_lyrics is None:
            self._given_lyrics = load_lyrics(c.lyrics)
        given = self._given_lyrics
        if given is not None and given.timed:
            return given.check(analysis.duration)
        source = audio if audio is not None else self._audio
        if source is None:
            raise MusicVidError("transcribing needs the audio: call analyze() first",
                                stage="transcribe")
        transcript = self.transcribe(source)
        if given is not None:
            return align_lyrics(given, transcript).check(analysis.duration)
        if not transcript.lines:
            log.warning("the transcriber heard no words: no lyrics for this video")
            return None
        return transcript.check(analysis.duration)

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

    # -- keyframes ----------------------------------------------------------------------
    def _keyframe_key(self, gen: Any, shot: Shot, identity: dict[str, Any],
                      ctx: StageContext) -> str:
        per_shot = getattr(gen, "shot_key_parts", None)
        extra = per_shot(shot, ctx) if per_shot is not None else {}
        if not getattr(gen, "uses_prompt", True):  # e.g. the user's pictures: one per picture
            return cache_keys.keyframe_key(identity, extra, "", "", 0)
        return cache_keys.keyframe_key(identity, extra, shot.prompt, shot.negative_prompt,
                                       shot.seed)

    def keyframe_keys(self, board: Storyboard) -> dict[int, str]:
        """Shot index -> the cache key of its keyframe (nothing is generated)."""
        gen = self.stage("keyframes")
        ctx = self._ctx("keyframes")
        ctx.extra["storyboard"] = board
        identity = self.stage_identity("keyframes", ctx)
        return {s.index: self._keyframe_key(gen, s, identity, ctx) for s in board.shots}

    def _keyframe_tasks(self, board: Storyboard, first_alone: bool = False
                        ) -> tuple[dict[int, str], list[KeyframeTask], StageContext]:
        """Shot index -> keyframe key, and the batches still to generate (in shot order;
        ``first_alone``: the first batch holds one shot, so the first shot waits least)."""
        ctx = self._ctx("keyframes")
        ctx.extra["storyboard"] = board
        gen = self.stage("keyframes")
        keys = self.keyframe_keys(board)
        todo: dict[str, Shot] = {}
        for shot in board.shots:
            k = keys[shot.index]
            if k in todo:
                continue
            if self.cache.has("keyframe", k, ".png"):
                self.stats["keyframes_cached"] += 1
                continue
            todo[k] = shot
        total = len(todo)
        ctx.progress(0, total, f"{total} keyframes to generate, "
                               f"{len(set(keys.values())) - total} cached")
        items = list(todo.items())
        batch = stage_batch_size(gen)
        head = 1 if first_alone and items else 0
        tasks = [KeyframeTask([s for _, s in items[:head]], [k for k, _ in items[:head]])]
        tasks = tasks if head else []
        tasks += [KeyframeTask([s for _, s in items[i:i + batch]], [k for k, _ in items[i:i + batch]])
                  for i in range(head, len(items), batch)]
        return keys, tasks, ctx

    def _run_keyframe_tasks(self, tasks: list[KeyframeTask], ctx: StageContext,
                            done_cb: Callable[[KeyframeTask], None] | None = None) -> None:
        gen = self.stage("keyframes")
        total = sum(len(t.shots) for t in tasks)
        t0 = time.perf_counter()
        done = 0
        with tagged("keyframes", gen.name):
            for task in self.executor.run_keyframes(tasks, ctx, self.cache):
                done += len(task.shots)
                self.stats["keyframes_generated"] += len(task.shots)
                if done_cb is not None:
                    done_cb(task)
                ctx.progress(done, total, "keyframe")
        if total:
            self._timed("keyframes", t0)

    def keyframes(self, board: Storyboard) -> dict[int, str]:
        """Make sure every shot's keyframe is on disk; returns shot index -> cache key."""
        keys, tasks, ctx = self._keyframe_tasks(board)
        self._run_keyframe_tasks(tasks, ctx)
        return keys

    def overlaps_keyframes(self) -> bool:
        """Whether keyframes for later shots are made while earlier shots are encoded
        (``config.overlap``). ``auto``: when the two do not compete for one device's
        memory or cores: the motion stage holds no model (it is not cacheable) and the
        keyframes come from pictures or run on an accelerator."""
        mode = self.config.overlap
        if mode == "off" or self.executor.prefetch_clips:
            return False
        if mode == "on":
            return True
        if stage_cacheable(self.stage("motion")):
            return False
        return not getattr(self.stage("keyframes"), "uses_prompt", True) or \
            not self.config.device.startswith("cpu")

    def stream_keyframes(self, board: Storyboard) -> tuple[dict[int, str], _KeyframeFeed]:
        """Start making the missing keyframes, in shot order, on a background thread;
        returns the keys and the feed :meth:`clips` waits on for each shot's keyframe."""
        keys, tasks, ctx = self._keyframe_tasks(board, first_alone=True)
        feed = _KeyframeFeed({k for t in tasks for k in t.keys})
        outer = ctx.is_cancelled
        ctx = StageContext(ctx.config, ctx.stage, ctx.progress_callback,
                           lambda: outer() or feed.stopped.is_set(), ctx.extra)

        def run() -> None:
            try:
                self._run_keyframe_tasks(tasks, ctx, lambda task: feed.mark(task.keys))
            except BaseException as exc:  # handed to the thread waiting for a keyframe
                feed.fail(exc)

        feed.thread = threading.Thread(target=run, name="musicvid-keyframes", daemon=True)
        feed.thread.start()
        return keys, feed

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
        from .contact_sheet import write_contact_sheet

        keys = keys if keys is not None else self.keyframe_keys(board)
        grade = self.grade_of(board)
        loaded: dict[str, Any] = {}
        images = []
        for shot in board.shots:
            k = keys[shot.index]
            if k not in loaded:
                hit = self.cache.has("keyframe", k, ".png")
                loaded[k] = self.load_keyframe(shot, k, grade).image if hit else None
            images.append(loaded[k])
        found = sum(1 for im in images if im is not None)
        return write_contact_sheet(board, images, path), found

    # -- motion + composite -------------------------------------------------------------
    def _clip_key(self, identity: dict[str, Any], shot: Shot, board: Storyboard,
                  analysis: Analysis, keys: dict[int, str]) -> str:
        params = shot.motion
        per_shot = getattr(self.stage("motion"), "clip_key_parts", None)
        extra = per_shot(shot, board, keys, self._ctx("motion")) if per_shot else None
        if extra:  # what else a shot's clip depends on (a morph: the next keyframe)
            params = {**(shot.motion if isinstance(shot.motion, dict) else {}), "_shot": extra}
        return cache_keys.clip_key(
            identity, keyframe=keys[shot.index], grade=self.grade_of(board),
            frames=(shot.start_frame, shot.end_frame), params=params, energy=shot.energy,
            size=(board.width, board.height), fps=board.fps, audio_sha256=analysis.audio_sha256)

    def prefetch_clips(self, board: Storyboard, analysis: Analysis, keys: dict[int, str]) -> None:
        """Fan cacheable motion clips out to the executor before compositing (Ray)."""
        motion = self.stage("motion")
        if not (self.executor.prefetch_clips and stage_cacheable(motion)):
            return
        ctx = self._ctx("motion")
        ctx.extra["storyboard"] = board
        identity = self.stage_identity("motion", ctx)
        model = self.keyframe_model()
        tasks = []
        for shot in board.shots:
            ckey = self._clip_key(identity, shot, board, analysis, keys)
            if not self.cache.has("clip", ckey, ".mkv"):
                tasks.append(ClipTask(shot, keys[shot.index], ckey, model))
        with tagged("motion", motion.name):
            for n, _ in enumerate(self.executor.run_clips(tasks, board, analysis, ctx,
                                                          self.cache), 1):
                ctx.progress(n, len(tasks), "clip")

    def clips(self, board: Storyboard, analysis: Analysis, keys: dict[int, str],
              feed: _KeyframeFeed | None = None) -> Iterator[Clip]:
        """One clip per shot, in order; keyframes are read from disk only when needed
        (and once for consecutive shots sharing one); with ``feed``, each shot first waits
        for its keyframe to be made."""
        ctx = self._ctx("motion")
        motion = self.stage("motion")
        cacheable = stage_cacheable(motion)
        identity = self.stage_identity("motion", ctx) if cacheable else {}
        model = self.keyframe_model()
        grade = self.grade_of(board)
        # a stage that looks at another shot's keyframe (a morph into the next one)
        ctx.extra["keyframe_of"] = lambda s: self.load_keyframe(s, keys[s.index], grade)
        ctx.extra["shots"] = len(board.shots)
        loaded: dict[str, Keyframe] = {}
        for shot in board.shots:
            ctx.check_cancelled()
            if feed is not None:
                feed.wait(keys[shot.index], ctx.check_cancelled)
            ckey = ""
            if cacheable:
                ckey = self._clip_key(identity, shot, board, analysis, keys)
                hit = self.cache.lookup("clip", ckey, ".mkv")
                if hit is not None:
                    self.stats["clips_cached"] = self.stats.get("clips_cached", 0) + 1
                    ctx.progress(shot.index + 1, len(board.shots), f"shot {shot.index + 1} (cached)")
                    yield read_clip(hit, shot.frame_count, board.width, board.height)
                    continue
            key = keys[shot.index]
            kf = loaded.get(key)
            if kf is None:
                loaded.clear()  # keep one graded keyframe in memory, not the song's
                kf = loaded[key] = self.load_keyframe(shot, key, grade)
            elif kf.prompt != shot.prompt or kf.seed != shot.seed:
                kf = Keyframe(image=kf.image, prompt=shot.prompt, seed=shot.seed,
                              model=kf.model, key=key)
            task = ClipTask(shot, key, ckey, model)
            clip = run_clip_task(task, motion, board, analysis, ctx, self.cache,
                                 store=cacheable and self.config.use_cache, keyframe=kf)
            if clip.meta.get("fallback") and clip.meta.get("motion") != motion.name:
                self.stats.setdefault("motion_fallbacks", []).append(
                    {"shot": shot.index, "motion": clip.meta.get("motion"),
                     "reason": clip.meta["fallback"]})
            ctx.progress(shot.index + 1, len(board.shots), f"shot {shot.index + 1}")
            yield clip

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
            storyboard.validate()
            expected = frame_count_for(analysis.duration, storyboard.fps)
            if storyboard.frame_count != expected:
                raise StoryboardError(
                    f"the storyboard has {storyboard.frame_count} frames but this song needs "
                    f"{expected} at {storyboard.fps} fps: was it planned for another song?")
        feed = None
        if self.overlaps_keyframes():
            keys, feed = self.stream_keyframes(storyboard)
        else:
            keys = self.keyframes(storyboard)
            self.prefetch_clips(storyboard, analysis, keys)
        compositor = self.stage("compositor")
        ctx = self._ctx("composite")
        t0 = time.perf_counter()
        try:
            with tagged("composite", compositor.name):
                result = compositor.compose(self.clips(storyboard, analysis, keys, feed),
                                            storyboard, audio, output, ctx)
        finally:
            if feed is not None:
                feed.close()
        self._timed("composite", t0)
        from .captions import write_soft_captions

        captions = ([] if self.config.captions == "none"
                    else write_soft_captions(storyboard, result.path))
        if captions:
            self.stats["captions"] = [str(p) for p in captions]
        report = sync_report(storyboard, analysis, result)
        report.write(sync_path(result.path))
        log.info("%s", report.summary())
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
    if config is None:
        config = RenderConfig.create(**options)
    elif options:
        config = config.replace(**options)
    pipe = Pipeline(config, progress=progress, cancel=cancel)
    try:
        return pipe.render(audio, output, storyboard, contact_sheet)
    finally:
        pipe.close()


def analyze(audio: str | Path, config: RenderConfig | None = None, **options: Any) -> Analysis:
    """Analyze ``audio`` with the configured analyzer (cached); ``options`` as in
    :func:`render`."""
    if config is None:
        config = RenderConfig.create(**options)
    elif options:
        config = config.replace(**options)
    pipe = Pipeline(config)
    try:
        return pipe.analyze(audio)
    finally:
        pipe.close()
