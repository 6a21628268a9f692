"""The pipeline's motion and composite phases: one clip per shot, in order, streamed
into the compositor, then the captions files and the sync report beside the video.

A cacheable motion stage's clips are keyed on what changes their frames (keyframe,
grade, frames, motion parameters, energy, size, fps, audio) and read back from the clip
cache; an executor that fans clips out (Ray) gets them made before compositing. Each
keyframe is read from disk when its shot comes, and only one is kept in memory.

Like :mod:`musicvid._keyframe_phase`, each function takes the
:class:`~musicvid.pipeline.Pipeline` it works for and reaches stages through it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import cache_keys
from ._clipcache import read_clip
from ._keyframe_phase import KeyframeFeed
from .errors import tagged
from .executors.base import ClipTask, run_clip_task
from .protocols import CompositeResult
from .stages import stage_cacheable
from .sync import SyncReport, sync_path, sync_report
from .types import Analysis, Clip, Keyframe, Shot, Storyboard

if TYPE_CHECKING:  # pragma: no cover
    from .pipeline import Pipeline

__all__ = ["clip_key", "clips", "compose", "prefetch_clips"]

log = logging.getLogger(__name__)


def clip_key(pipe: Pipeline, identity: dict[str, Any], shot: Shot, board: Storyboard,
             analysis: Analysis, keys: dict[int, str]) -> str:
    """The clip cache key of ``shot`` for the motion stage of ``identity``."""
    params = shot.motion
    per_shot = getattr(pipe.stage("motion"), "clip_key_parts", None)
    extra = per_shot(shot, board, keys, pipe._ctx("motion")) if per_shot else None
    if extra:  # what else a shot's clip depends on (a morph: the next keyframe)
        params = {**(shot.motion if isinstance(shot.motion, dict) else {}), "_shot": extra}
    return cache_keys.clip_key(
        identity, keyframe=keys[shot.index], grade=pipe.grade_of(board),
        frames=(shot.start_frame, shot.end_frame), params=params, energy=shot.energy,
        size=(board.width, board.height), fps=board.fps, audio_sha256=analysis.audio_sha256)


def prefetch_clips(pipe: Pipeline, board: Storyboard, analysis: Analysis,
                   keys: dict[int, str]) -> None:
    """Fan cacheable motion clips out to the executor before compositing (Ray)."""
    motion = pipe.stage("motion")
    if not (pipe.executor.prefetch_clips and stage_cacheable(motion)):
        return
    ctx = pipe._ctx("motion")
    ctx.extra["storyboard"] = board
    identity = pipe.stage_identity("motion", ctx)
    model = pipe.keyframe_model()
    tasks = []
    for shot in board.shots:
        ckey = pipe._clip_key(identity, shot, board, analysis, keys)
        if not pipe.cache.has("clip", ckey, ".mkv"):
            tasks.append(ClipTask(shot, keys[shot.index], ckey, model))
    with tagged("motion", motion.name):
        for n, _ in enumerate(pipe.executor.run_clips(tasks, board, analysis, ctx,
                                                      pipe.cache), 1):
            ctx.progress(n, len(tasks), "clip")


def clips(pipe: Pipeline, board: Storyboard, analysis: Analysis, keys: dict[int, str],
          feed: KeyframeFeed | None = None) -> Iterator[Clip]:
    """One clip per shot, in order; keyframes are read from disk only when needed (and
    once for consecutive shots sharing one); with ``feed``, each shot first waits for its
    keyframe to be made."""
    ctx = pipe._ctx("motion")
    motion = pipe.stage("motion")
    cacheable = stage_cacheable(motion)
    identity = pipe.stage_identity("motion", ctx) if cacheable else {}
    model = pipe.keyframe_model()
    grade = pipe.grade_of(board)
    # a stage that looks at another shot's keyframe (a morph into the next one)
    ctx.extra["keyframe_of"] = lambda s: pipe.load_keyframe(s, keys[s.index], grade)
    ctx.extra["shots"] = len(board.shots)
    loaded: dict[str, Keyframe] = {}
    for shot in board.shots:
        ctx.check_cancelled()
        if feed is not None:
            feed.wait(keys[shot.index], ctx.check_cancelled)
        ckey = ""
        if cacheable:
            ckey = pipe._clip_key(identity, shot, board, analysis, keys)
            hit = pipe.cache.lookup("clip", ckey, ".mkv")
            if hit is not None:
                pipe.stats["clips_cached"] = pipe.stats.get("clips_cached", 0) + 1
                ctx.progress(shot.index + 1, len(board.shots), f"shot {shot.index + 1} (cached)")
                yield read_clip(hit, shot.frame_count, board.width, board.height)
                continue
        key = keys[shot.index]
        kf = loaded.get(key)
        if kf is None:
            loaded.clear()  # keep one graded keyframe in memory, not the song's
            kf = loaded[key] = pipe.load_keyframe(shot, key, grade)
        elif kf.prompt != shot.prompt or kf.seed != shot.seed:
            kf = Keyframe(image=kf.image, prompt=shot.prompt, seed=shot.seed,
                          model=kf.model, key=key)
        task = ClipTask(shot, key, ckey, model)
        clip = run_clip_task(task, motion, board, analysis, ctx, pipe.cache,
                             store=cacheable and pipe.config.use_cache, keyframe=kf)
        if clip.meta.get("fallback") and clip.meta.get("motion") != motion.name:
            pipe.stats.setdefault("motion_fallbacks", []).append(
                {"shot": shot.index, "motion": clip.meta.get("motion"),
                 "reason": clip.meta["fallback"]})
        ctx.progress(shot.index + 1, len(board.shots), f"shot {shot.index + 1}")
        yield clip


def compose(pipe: Pipeline, board: Storyboard, analysis: Analysis, audio: Path, output: Path,
            keys: dict[int, str], feed: KeyframeFeed | None = None
            ) -> tuple[CompositeResult, SyncReport]:
    """Stream ``pipe.clips`` into the compositor (closing ``feed`` however that ends),
    write the soft captions unless ``captions`` is none, and the sync report beside the
    video."""
    compositor = pipe.stage("compositor")
    ctx = pipe._ctx("composite")
    t0 = time.perf_counter()
    try:
        with tagged("composite", compositor.name):
            result: CompositeResult = compositor.compose(
                pipe.clips(board, analysis, keys, feed), board, audio, output, ctx)
    finally:
        if feed is not None:
            feed.close()
    pipe._timed("composite", t0)
    from .captions import write_soft_captions

    captions = [] if pipe.config.captions == "none" else write_soft_captions(board, result.path)
    if captions:
        pipe.stats["captions"] = [str(p) for p in captions]
    report = sync_report(board, analysis, result)
    report.write(sync_path(result.path))
    log.info("%s", report.summary())
    return result, report
