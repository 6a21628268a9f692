"""The executor protocol, the units of work, and the local executor."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from ..cache import Cache
from ..errors import InvalidOptionError, MusicVidError, tagged
from ..protocols import StageContext
from ..types import Analysis, Clip, Keyframe, Shot, Storyboard

__all__ = ["ClipTask", "Executor", "KeyframeTask", "LocalExecutor", "do_clip_task",
           "do_keyframe_task", "get_executor", "keeps", "keyframe_model", "run_clip_task"]


@dataclass
class KeyframeTask:
    """Generate ``shots`` (one batch) and store each image under its cache key."""

    shots: list[Shot]
    keys: list[str]


@dataclass
class ClipTask:
    """Animate ``shot`` from the keyframe ``keyframe_key`` into the clip cache as ``key``.

    ``model`` is what made the keyframe (see :func:`keyframe_model`).
    """

    shot: Shot
    keyframe_key: str
    key: str
    model: str = ""


def do_keyframe_task(task: KeyframeTask, gen: Any, ctx: StageContext, cache: Cache) -> int:
    """Run one keyframe batch and store its images; returns how many were generated."""
    with tagged("keyframes", gen.name):
        images = gen.generate(task.shots, ctx)
    if len(images) != len(task.shots):
        raise MusicVidError(f"generator returned {len(images)} images for {len(task.shots)} "
                            "shots", stage="keyframes", plugin=gen.name)
    for key, image in zip(task.keys, images):
        cache.put_image("keyframe", key, image)
    return len(images)


def keyframe_model(gen: Any, ctx: StageContext) -> str:
    """What made ``gen``'s keyframes, for :attr:`Keyframe.model`: the model its cache key
    names (``sdxl``: the SDXL model id), else the generator itself (``images``: the
    user's pictures)."""
    model = gen.cache_key_parts(ctx).get("model")
    return str(model) if model else str(gen.name)


def load_keyframe(cache: Cache, shot: Shot, key: str, model: str = "",
                  grade: tuple[Any, float] | None = None) -> Keyframe:
    """A keyframe from the cache, colour-graded by ``grade`` (palette, strength)."""
    image = cache.get_image("keyframe", key)
    if image is None:
        raise MusicVidError(f"keyframe for shot {shot.index} is missing from the cache",
                            stage="keyframes")
    if grade is not None and grade[1] > 0:
        from ..grade import grade_image

        image = grade_image(image, grade[0], grade[1])
    return Keyframe(image=image, prompt=shot.prompt, seed=shot.seed, model=model, key=key)


def keeps(clip: Clip) -> bool:
    """Whether ``clip`` may go to the clip cache (a stage says ``meta["cache"] = False``
    for clips that are cheap to redo or that stand in for the real thing)."""
    return bool(clip.meta.get("cache", True))


def run_clip_task(task: ClipTask, motion: Any, board: Storyboard, analysis: Analysis,
                  ctx: StageContext, cache: Cache, store: bool,
                  keyframe: Keyframe | None = None) -> Clip:
    """One shot's clip: its keyframe (``keyframe``, or read from the cache and graded),
    animated by ``motion`` and checked for its frame count. With ``store`` (and unless the
    clip refuses, see :func:`keeps`) it is also written to the clip cache as ``task.key``
    while it streams. The local path and the Ray workers both make their clips here."""
    from .._clipcache import recording
    from ..grade import grade_for

    shot = task.shot
    kf = keyframe or load_keyframe(cache, shot, task.keyframe_key, task.model,
                                   grade_for(board, ctx.config))
    with tagged("motion", motion.name):
        clip = motion.animate(kf, shot, board, analysis, ctx)
    if clip.frame_count != shot.frame_count:
        raise MusicVidError(f"motion stage made {clip.frame_count} frames for shot "
                            f"{shot.index} of {shot.frame_count}", stage="motion",
                            plugin=motion.name)
    if store and keeps(clip):
        clip = recording(clip, cache, task.key, board.fps)
    return clip


def do_clip_task(task: ClipTask, motion: Any, board: Storyboard, analysis: Analysis,
                 ctx: StageContext, cache: Cache) -> bool:
    """Make one shot's clip into the clip cache (a Ray worker's unit of work); returns
    whether it was stored. A clip that may not be cached is not made at all: the driver
    makes it again when it composites."""
    clip = run_clip_task(task, motion, board, analysis, ctx, cache, store=True)
    if not keeps(clip):
        return False
    for _ in clip:  # the frames are made, and written, as they stream
        pass
    return True


class Executor(Protocol):
    """Runs units of work; yields each task once its result is in the cache."""

    name: str
    #: when True the pipeline renders cacheable motion clips through ``run_clips`` (which
    #: such an executor must have) before compositing (fan-out); otherwise clips are made
    #: while the encoder streams them
    prefetch_clips: bool

    def run_keyframes(self, tasks: Sequence[KeyframeTask], ctx: StageContext,
                      cache: Cache) -> Iterator[KeyframeTask]: ...


class LocalExecutor:
    """Everything in this process, one unit at a time, with the stages the pipeline made."""

    name = "local"
    prefetch_clips = False

    def __init__(self, stages: Any):
        self._stages = stages  # the pipeline's ``stage(kind)`` accessor

    def run_keyframes(self, tasks: Sequence[KeyframeTask], ctx: StageContext,
                      cache: Cache) -> Iterator[KeyframeTask]:
        gen = self._stages("keyframes")
        for task in tasks:
            ctx.check_cancelled()
            do_keyframe_task(task, gen, ctx, cache)
            yield task


def get_executor(name: str, stages: Any, config: Any) -> Any:
    if name == "local":
        return LocalExecutor(stages)
    if name == "ray":
        from .ray_executor import RayExecutor

        return RayExecutor.for_config(config)
    raise InvalidOptionError("executor", name, ["local", "ray"])
