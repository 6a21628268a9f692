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
from typing import Any

from . import planning
from ._clipcache import read_clip, recording
from .cache import Cache, cache_key, file_sha256
from .config import RenderConfig
from .errors import AudioNotFoundError, MusicVidError, StoryboardError
from .plugins import get_plugin_manager, get_stage
from .protocols import CompositeResult, ProgressCallback, StageContext
from .types import Analysis, Clip, Keyframe, Shot, Storyboard, frame_count_for

__all__ = ["Pipeline", "RenderResult", "analyze", "render"]

log = logging.getLogger(__name__)

CancelSignal = Callable[[], bool] | threading.Event | None


@dataclass
class RenderResult:
    output: Path
    analysis: Analysis
    storyboard: Storyboard
    composite: CompositeResult
    stats: dict[str, Any] = field(default_factory=dict)


def _cancel_fn(cancel: CancelSignal) -> Callable[[], bool]:
    if cancel is None:
        return lambda: False
    if isinstance(cancel, threading.Event):
        return cancel.is_set
    return cancel


class Pipeline:
    """One render's worth of stage wiring; reusable for several renders of one config."""

    def __init__(self, config: RenderConfig | None = None, *,
                 progress: ProgressCallback | None = None, cancel: CancelSignal = None):
        self.config = config or RenderConfig.create()
        self._progress = progress or (lambda stage, done, total, message: None)
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

    # -- stages -------------------------------------------------------------------------
    def stage(self, kind: str) -> Any:
        """The stage object of ``kind`` named in the config (created once)."""
        if kind not in self._stages:
            name = {"analyzer": self.config.analyzer, "keyframes": self.config.keyframes,
                    "motion": self.config.motion, "compositor": self.config.compositor}[kind]
            entry = get_stage(kind, name)
            self._stages[kind] = entry.factory()
        return self._stages[kind]

    def preflight(self) -> None:
        """Let each stage fail fast (missing torch, bad model option) before any work."""
        for kind, stage_name in (("analyzer", "analyze"), ("keyframes", "keyframes"),
                                 ("motion", "motion"), ("compositor", "composite")):
            stage = self.stage(kind)
            check = getattr(stage, "preflight", None)
            if check is not None:
                check(self._ctx(stage_name))

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
        if not audio.is_file():
            raise AudioNotFoundError(f"audio file not found: {audio}", stage="analyze")
        t0 = time.perf_counter()
        sha = file_sha256(audio)
        analyzer = self.stage("analyzer")
        key = cache_key("analysis", {"audio": sha, "analyzer": analyzer.name,
                                     "version": getattr(analyzer, "version", 1),
                                     "fps": self.config.fps})
        cached = self.cache.get_json("analysis", key)
        if cached is not None:
            self.stats["analysis_cached"] = True
            ctx.progress(1, 1, "analysis from cache")
            return Analysis.from_dict(cached)
        try:
            analysis = analyzer.analyze(audio, ctx)
        except MusicVidError as exc:
            exc.stage = exc.stage or "analyze"
            exc.plugin = exc.plugin or analyzer.name
            raise
        analysis.audio_sha256 = sha
        self.cache.put_json("analysis", key, analysis.to_dict())
        self._timed("analyze", t0)
        return analysis

    # -- planning -----------------------------------------------------------------------
    def plan(self, analysis: Analysis) -> Storyboard:
        ctx = self._ctx("plan")
        board = planning.plan(analysis, self.config)
        for result in get_plugin_manager().hook.adjust_storyboard(
                storyboard=board, analysis=analysis, config=self.config):
            if isinstance(result, Storyboard):
                board = result
        board.validate()
        ctx.progress(1, 1, f"{len(board.shots)} shots")
        return board

    # -- keyframes ----------------------------------------------------------------------
    def _keyframe_key(self, gen: Any, shot: Shot, parts: dict[str, Any]) -> str:
        return cache_key("keyframe", {"generator": gen.name, **parts, "prompt": shot.prompt,
                                      "negative": shot.negative_prompt, "seed": shot.seed})

    def keyframes(self, board: Storyboard) -> dict[int, str]:
        """Make sure every shot's keyframe is on disk; returns shot index -> cache key."""
        ctx = self._ctx("keyframes")
        gen = self.stage("keyframes")
        parts = gen.cache_key_parts(ctx)
        keys = {s.index: self._keyframe_key(gen, s, parts) for s in board.shots}
        todo: dict[str, Shot] = {}
        for shot in board.shots:
            k = keys[shot.index]
            if k in todo:
                continue
            if self.cache.path("keyframe", k, ".png").is_file():
                self.stats["keyframes_cached"] += 1
                continue
            todo[k] = shot
        total = len(todo)
        ctx.progress(0, total, f"{total} keyframes to generate, "
                               f"{len(set(keys.values())) - total} cached")
        t0 = time.perf_counter()
        items = list(todo.items())
        batch = max(1, int(getattr(gen, "batch_size", 1)))
        for i in range(0, len(items), batch):
            ctx.check_cancelled()
            chunk = items[i:i + batch]
            try:
                images = gen.generate([s for _, s in chunk], ctx)
            except MusicVidError as exc:
                exc.stage = exc.stage or "keyframes"
                exc.plugin = exc.plugin or gen.name
                raise
            if len(images) != len(chunk):
                raise MusicVidError(f"generator returned {len(images)} images for "
                                    f"{len(chunk)} shots", stage="keyframes", plugin=gen.name)
            for (k, _), img in zip(chunk, images):
                self.cache.put_image("keyframe", k, img)
            self.stats["keyframes_generated"] += len(chunk)
            ctx.progress(min(i + batch, total), total, "keyframe")
        if total:
            self._timed("keyframes", t0)
        return keys

    def load_keyframe(self, shot: Shot, key: str) -> Keyframe:
        image = self.cache.get_image("keyframe", key)
        if image is None:
            raise MusicVidError(f"keyframe for shot {shot.index} vanished from the cache",
                                stage="keyframes")
        return Keyframe(image=image, prompt=shot.prompt, seed=shot.seed,
                        model=self.config.sdxl_model, key=key)

    # -- motion + composite -------------------------------------------------------------
    def clips(self, board: Storyboard, analysis: Analysis, keys: dict[int, str]) -> Iterator[Clip]:
        """One clip per shot, in order; keyframes are read from disk only when needed."""
        ctx = self._ctx("motion")
        motion = self.stage("motion")
        cacheable = bool(getattr(motion, "cacheable", False))
        parts = motion.cache_key_parts(ctx) if cacheable else {}
        for shot in board.shots:
            ctx.check_cancelled()
            if cacheable:
                ckey = cache_key("clip", {"motion": motion.name, **parts,
                                          "keyframe": keys[shot.index],
                                          "frames": [shot.start_frame, shot.end_frame],
                                          "params": shot.motion, "energy": shot.energy,
                                          "size": [board.width, board.height],
                                          "fps": board.fps, "audio": analysis.audio_sha256})
                hit = self.cache.lookup("clip", ckey, ".mkv")
                if hit is not None:
                    self.stats["clips_cached"] = self.stats.get("clips_cached", 0) + 1
                    ctx.progress(shot.index + 1, len(board.shots), f"shot {shot.index + 1} (cached)")
                    yield read_clip(hit, shot.frame_count, board.width, board.height)
                    continue
            kf = self.load_keyframe(shot, keys[shot.index])
            clip = motion.animate(kf, shot, board, analysis, ctx)
            if cacheable and self.config.use_cache and clip.meta.get("cache", True):
                clip = recording(clip, self.cache, ckey, board.fps)
            if clip.frame_count != shot.frame_count:
                raise MusicVidError(f"motion stage made {clip.frame_count} frames for shot "
                                    f"{shot.index} of {shot.frame_count}", stage="motion",
                                    plugin=motion.name)
            ctx.progress(shot.index + 1, len(board.shots), f"shot {shot.index + 1}")
            yield clip

    def render(self, audio: str | Path, output: str | Path,
               storyboard: Storyboard | None = None) -> RenderResult:
        t_all = time.perf_counter()
        audio, output = Path(audio), Path(output)
        self.preflight()
        analysis = self.analyze(audio)
        if storyboard is None:
            storyboard = self.plan(analysis)
        else:
            storyboard.validate()
            expected = frame_count_for(analysis.duration, storyboard.fps)
            if storyboard.frame_count != expected:
                raise StoryboardError(
                    f"the storyboard has {storyboard.frame_count} frames but this song needs "
                    f"{expected} at {storyboard.fps} fps: was it planned for another song?")
        keys = self.keyframes(storyboard)
        compositor = self.stage("compositor")
        ctx = self._ctx("composite")
        t0 = time.perf_counter()
        result = compositor.compose(self.clips(storyboard, analysis, keys), storyboard,
                                    audio, output, ctx)
        self._timed("composite", t0)
        self.stats["timings"]["total"] = round(time.perf_counter() - t_all, 3)
        self.stats["cache_dir"] = str(self.cache.root)
        return RenderResult(result.path, analysis, storyboard, result, dict(self.stats))

    def close(self) -> None:
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None


def render(audio: str | Path, output: str | Path, config: RenderConfig | None = None, *,
           progress: ProgressCallback | None = None, cancel: CancelSignal = None,
           storyboard: Storyboard | None = None, **options: Any) -> RenderResult:
    """Render ``audio`` to the MP4 ``output``.

    ``options`` are :class:`RenderConfig` fields (``genre="rock", seed=7``...) applied on
    top of ``config`` (or of the default profile).
    """
    if config is None:
        config = RenderConfig.create(**options)
    elif options:
        config = config.replace(**options)
    pipe = Pipeline(config, progress=progress, cancel=cancel)
    try:
        return pipe.render(audio, output, storyboard)
    finally:
        pipe.close()


def analyze(audio: str | Path, config: RenderConfig | None = None, **options: Any) -> Analysis:
    """Analyze ``audio`` with the configured analyzer (cached)."""
    config = config or RenderConfig.create(**options)
    pipe = Pipeline(config)
    try:
        return pipe.analyze(audio)
    finally:
        pipe.close()
