"""The pipeline's keyframe phase: cache keys, the batches still to make, making them
(in turn, or in shot order on a background thread while earlier shots encode) and the
contact sheet of what the cache holds.

Each function takes the :class:`~musicvid.pipeline.Pipeline` it works for and reaches
its stages through ``pipe.stage(kind)``, so a subclass that swaps a stage is obeyed.
Keyframes go to disk as soon as they exist; nothing here keeps the song's images.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import cache_keys
from .errors import tagged
from .executors.base import KeyframeTask
from .protocols import StageContext
from .stages import stage_batch_size, stage_cacheable
from .types import Shot, Storyboard

if TYPE_CHECKING:  # pragma: no cover
    from .pipeline import Pipeline

__all__ = ["KeyframeFeed", "contact_sheet", "keyframe_keys", "keyframe_tasks",
           "overlaps_keyframes", "run_keyframe_tasks", "stream_keyframes"]


class KeyframeFeed:
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


def _keyframe_key(gen: Any, shot: Shot, identity: dict[str, Any], ctx: StageContext) -> str:
    per_shot = getattr(gen, "shot_key_parts", None)
    extra = per_shot(shot, ctx) if per_shot is not None else {}
    if not getattr(gen, "uses_prompt", True):  # e.g. the user's pictures: one per picture
        return cache_keys.keyframe_key(identity, extra, "", "", 0)
    return cache_keys.keyframe_key(identity, extra, shot.prompt, shot.negative_prompt,
                                   shot.seed)


def keyframe_keys(pipe: Pipeline, board: Storyboard) -> dict[int, str]:
    """Shot index -> the cache key of its keyframe (nothing is generated)."""
    gen = pipe.stage("keyframes")
    ctx = pipe._ctx("keyframes")
    ctx.extra["storyboard"] = board
    identity = pipe.stage_identity("keyframes", ctx)
    return {s.index: _keyframe_key(gen, s, identity, ctx) for s in board.shots}


def keyframe_tasks(pipe: Pipeline, board: Storyboard, first_alone: bool = False
                   ) -> tuple[dict[int, str], list[KeyframeTask], StageContext]:
    """Shot index -> keyframe key, and the batches still to generate (in shot order;
    ``first_alone``: the first batch holds one shot, so the first shot waits least)."""
    ctx = pipe._ctx("keyframes")
    ctx.extra["storyboard"] = board
    gen = pipe.stage("keyframes")
    keys = pipe.keyframe_keys(board)
    todo: dict[str, Shot] = {}
    for shot in board.shots:
        k = keys[shot.index]
        if k in todo:
            continue
        if pipe.cache.has("keyframe", k, ".png"):
            pipe.stats["keyframes_cached"] += 1
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


def run_keyframe_tasks(pipe: Pipeline, tasks: list[KeyframeTask], ctx: StageContext,
                       done_cb: Callable[[KeyframeTask], None] | None = None) -> None:
    """Make the keyframes of ``tasks`` on the pipeline's executor, calling ``done_cb``
    with each batch once it is on disk."""
    gen = pipe.stage("keyframes")
    total = sum(len(t.shots) for t in tasks)
    t0 = time.perf_counter()
    done = 0
    with tagged("keyframes", gen.name):
        for task in pipe.executor.run_keyframes(tasks, ctx, pipe.cache):
            done += len(task.shots)
            pipe.stats["keyframes_generated"] += len(task.shots)
            if done_cb is not None:
                done_cb(task)
            ctx.progress(done, total, "keyframe")
    if total:
        pipe._timed("keyframes", t0)


def overlaps_keyframes(pipe: Pipeline) -> bool:
    """Whether keyframes for later shots are made while earlier shots are encoded
    (``config.overlap``). ``auto``: when the two do not compete for one device's memory
    or cores: the motion stage holds no model (it is not cacheable) and the keyframes
    come from pictures or run on an accelerator."""
    mode = pipe.config.overlap
    if mode == "off" or pipe.executor.prefetch_clips:
        return False
    if mode == "on":
        return True
    if stage_cacheable(pipe.stage("motion")):
        return False
    return not getattr(pipe.stage("keyframes"), "uses_prompt", True) or \
        not pipe.config.device.startswith("cpu")


def stream_keyframes(pipe: Pipeline, board: Storyboard) -> tuple[dict[int, str], KeyframeFeed]:
    """Start making the missing keyframes, in shot order, on a background thread;
    returns the keys and the feed the motion phase waits on for each shot's keyframe."""
    keys, tasks, ctx = keyframe_tasks(pipe, board, first_alone=True)
    feed = KeyframeFeed({k for t in tasks for k in t.keys})
    outer = ctx.is_cancelled
    ctx = StageContext(ctx.config, ctx.stage, ctx.progress_callback,
                       lambda: outer() or feed.stopped.is_set(), ctx.extra)

    def run() -> None:
        try:
            run_keyframe_tasks(pipe, tasks, ctx, lambda task: feed.mark(task.keys))
        except BaseException as exc:  # handed to the thread waiting for a keyframe
            feed.fail(exc)

    feed.thread = threading.Thread(target=run, name="musicvid-keyframes", daemon=True)
    feed.thread.start()
    return keys, feed


def contact_sheet(pipe: Pipeline, board: Storyboard, path: str | Path,
                  keys: dict[int, str] | None = None) -> tuple[Path, int]:
    """Write ``board``'s contact sheet with the (graded) keyframes found in the cache;
    returns the path and how many shots had a keyframe."""
    from .contact_sheet import write_contact_sheet

    keys = keys if keys is not None else pipe.keyframe_keys(board)
    grade = pipe.grade_of(board)
    loaded: dict[str, Any] = {}
    images = []
    for shot in board.shots:
        k = keys[shot.index]
        if k not in loaded:
            hit = pipe.cache.has("keyframe", k, ".png")
            loaded[k] = pipe.load_keyframe(shot, k, grade).image if hit else None
        images.append(loaded[k])
    found = sum(1 for im in images if im is not None)
    return write_contact_sheet(board, images, path), found
