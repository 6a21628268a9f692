"""The executor protocol, the units of work, and the local executor."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from ..cache import Cache
from ..errors import InvalidOptionError, MusicVidError
from ..protocols import StageContext
from ..types import Analysis, Keyframe, Shot, Storyboard

__all__ = ["ClipTask", "Executor", "KeyframeTask", "LocalExecutor", "do_clip_task",
           "do_keyframe_task", "get_executor"]


@dataclass
class KeyframeTask:
    """Generate ``shots`` (one batch) and store each image under its cache key."""

    shots: list[Shot]
    keys: list[str]


@dataclass
class ClipTask:
    """Animate ``shot`` from the keyframe ``keyframe_key`` into the clip cache as ``key``."""

    shot: Shot
    keyframe_key: str
    key: str


def do_keyframe_task(task: KeyframeTask, gen: Any, ctx: StageContext, cache: Cache) -> int:
    """Run one keyframe batch and store its images; returns how many were generated."""
    try:
        images = gen.generate(task.shots, ctx)
    except MusicVidError as exc:
        exc.stage = exc.stage or "keyframes"
        exc.plugin = exc.plugin or gen.name
        raise
    if len(images) != len(task.shots):
        raise MusicVidError(f"generator returned {len(images)} images for {len(task.shots)} "
                            "shots", stage="keyframes", plugin=gen.name)
    for key, image in zip(task.keys, images):
        cache.put_image("keyframe", key, image)
    return len(images)


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


def do_clip_task(task: ClipTask, motion: Any, board: Storyboard, analysis: Analysis,
                 ctx: StageContext, cache: Cache) -> None:
    """Animate one shot and write its frames to the clip cache."""
    from .._clipcache import recording
    from ..grade import grade_for

    kf = load_keyframe(cache, task.shot, task.keyframe_key, ctx.config.sdxl_model,
                       grade_for(board, ctx.config))
    clip = motion.animate(kf, task.shot, board, analysis, ctx)
    for _ in recording(clip, cache, task.key, board.fps):
        pass


class Executor(Protocol):
    """Runs units of work; yields each task once its result is in the cache."""

    name: str
    #: when True the pipeline renders cacheable motion clips through ``run_clips`` before
    #: compositing (fan-out); otherwise clips are made while the encoder streams them
    prefetch_clips: bool

    def run_keyframes(self, tasks: Sequence[KeyframeTask], ctx: StageContext,
                      cache: Cache) -> Iterator[KeyframeTask]: ...

    def run_clips(self, tasks: Sequence[ClipTask], board: Storyboard, analysis: Analysis,
                  ctx: StageContext, cache: Cache) -> Iterator[ClipTask]: ...


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

    def run_clips(self, tasks: Sequence[ClipTask], board: Storyboard, analysis: Analysis,
                  ctx: StageContext, cache: Cache) -> Iterator[ClipTask]:
        motion = self._stages("motion")
        for task in tasks:
            ctx.check_cancelled()
            do_clip_task(task, motion, board, analysis, ctx, cache)
            yield task


def get_executor(name: str, stages: Any, config: Any) -> Any:
    if name == "local":
        return LocalExecutor(stages)
    if name == "ray":
        from .ray_executor import RayExecutor

        return RayExecutor.for_config(config)
    raise InvalidOptionError("executor", name, ["local", "ray"])
