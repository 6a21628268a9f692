"""Run keyframes and motion clips on a Ray cluster (``pip install 'musicvid[ray]'``).

Each worker is a Ray actor (``num_gpus=1`` by default) that builds the stages once and
keeps their pipelines loaded across shots and jobs. Work is handed out one unit at a time
to idle actors, gathered as it finishes and reported through the one progress callback.
Cancellation calls ``ray.cancel`` on everything in flight. An actor that dies is restarted
by Ray and its unit retried (``max_restarts`` / ``max_task_retries``). Results go to the
content-addressed cache, which must be on storage every worker can reach (``--cache-dir``
on a shared file system); the driver reads them back from there.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from ..cache import Cache
from ..config import RenderConfig
from ..errors import (
    MissingDependencyError,
    MusicVidError,
    RenderCancelled,
    StageError,
    is_retryable,
)
from ..protocols import StageContext
from ..types import Analysis, Storyboard
from .base import ClipTask, KeyframeTask, do_clip_task, do_keyframe_task

log = logging.getLogger(__name__)

MAX_RESTARTS = 3
MAX_TASK_RETRIES = 3


def require_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise MissingDependencyError(
            "the ray executor needs Ray: pip install 'musicvid[ray]'", stage="executor",
            plugin="ray") from None
    return ray


def _extra_plugins() -> list[tuple[str, Any]]:
    """Plugins registered in this process by hand (not defaults, not entry points)."""
    import importlib.metadata

    from ..plugins import DEFAULT_PLUGINS, get_plugin_manager

    pm = get_plugin_manager()
    entry_names = {ep.name for ep in importlib.metadata.entry_points(group="musicvid")}
    return [(name, plugin) for name, plugin in pm.list_name_plugin()
            if name not in DEFAULT_PLUGINS and name not in entry_names and plugin is not None]


class _Worker:
    """The actor body: stages built once per process, reused for every unit of work."""

    def __init__(self, load_plugins: str | None, extra_plugins: list[tuple[str, Any]]):
        from ..plugins import get_plugin_manager, reset_plugin_manager

        if load_plugins is None:
            os.environ.pop("MUSICVID_LOAD_PLUGINS", None)
        else:
            os.environ["MUSICVID_LOAD_PLUGINS"] = load_plugins
        reset_plugin_manager()
        pm = get_plugin_manager()
        for name, plugin in extra_plugins:
            if pm.get_plugin(name) is None:
                pm.register(plugin, name=name)
        self._stages: dict[tuple[str, str], Any] = {}

    def _stage(self, kind: str, name: str, ctx: StageContext) -> Any:
        from ..plugins import get_stage

        if (kind, name) not in self._stages:
            stage = get_stage(kind, name).factory()
            check = getattr(stage, "preflight", None)
            if check is not None:
                check(ctx)
            self._stages[(kind, name)] = stage
        return self._stages[(kind, name)]

    def pid(self) -> int:
        return os.getpid()

    def keyframes(self, config: RenderConfig, board: Storyboard, task: KeyframeTask,
                  cache_root: str) -> int:
        ctx = StageContext(config, "keyframes", extra={"storyboard": board})
        gen = self._stage("keyframes", config.keyframes, ctx)
        return do_keyframe_task(task, gen, ctx, Cache(Path(cache_root)))

    def clip(self, config: RenderConfig, board: Storyboard, analysis: Analysis, task: ClipTask,
             cache_root: str) -> str:
        ctx = StageContext(config, "motion", extra={"storyboard": board})
        motion = self._stage("motion", config.motion, ctx)
        do_clip_task(task, motion, board, analysis, ctx, Cache(Path(cache_root)))
        return task.key


_POOLS: dict[tuple[Any, ...], RayExecutor] = {}
_POOLS_LOCK = threading.Lock()


class RayExecutor:
    """Fans units of work out to a pool of Ray actors that keep their models loaded."""

    name = "ray"
    prefetch_clips = True

    def __init__(self, address: str | None, workers: int | None, gpus_per_worker: float):
        self.ray = require_ray()
        if not self.ray.is_initialized():
            self.ray.init(address=address or None, ignore_reinit_error=True,
                          include_dashboard=False, log_to_driver=False)
        resources = self.ray.cluster_resources()
        gpus = float(resources.get("GPU", 0))
        if gpus_per_worker > 0 and gpus < gpus_per_worker:
            log.warning("the Ray cluster has no GPUs; workers run on CPUs")
            gpus_per_worker = 0.0
        if workers is None:
            workers = max(1, int(gpus // gpus_per_worker) if gpus_per_worker else
                          int(resources.get("CPU", 1)) // 2 or 1)
        remote = self.ray.remote(num_gpus=gpus_per_worker, num_cpus=1,
                                 max_restarts=MAX_RESTARTS,
                                 max_task_retries=MAX_TASK_RETRIES)(_Worker)
        load = os.environ.get("MUSICVID_LOAD_PLUGINS")
        extra = _extra_plugins()
        self.actors = [remote.remote(load, extra) for _ in range(workers)]
        log.info("ray executor: %d workers (%g GPU each)", workers, gpus_per_worker)

    @classmethod
    def for_config(cls, config: RenderConfig) -> RayExecutor:
        """One pool per cluster and worker shape, reused by every render in this process.

        A pool of another shape (other plugins, worker count) replaces the previous one, so
        the two never compete for the same GPUs.
        """
        key = (config.ray_address, config.ray_workers, config.ray_gpus_per_worker,
               os.environ.get("MUSICVID_LOAD_PLUGINS"),
               tuple(name for name, _ in _extra_plugins()))
        with _POOLS_LOCK:
            if key not in _POOLS:
                for old in _POOLS.values():
                    old.shutdown()
                _POOLS.clear()
                _POOLS[key] = cls(config.ray_address, config.ray_workers,
                                  config.ray_gpus_per_worker)
            return _POOLS[key]

    def _run(self, tasks: Sequence[Any], submit: Any, ctx: StageContext) -> Iterator[Any]:
        ray = self.ray
        todo = list(tasks)
        idle = list(self.actors)
        pending: dict[Any, tuple[Any, Any]] = {}
        try:
            while todo or pending:
                while todo and idle:
                    actor = idle.pop(0)
                    task = todo.pop(0)
                    pending[submit(actor, task)] = (actor, task)
                ready, _ = ray.wait(list(pending), num_returns=1, timeout=0.25)
                if ctx.is_cancelled():
                    raise RenderCancelled("render cancelled", stage=ctx.stage)
                for ref in ready:
                    actor, task = pending.pop(ref)
                    try:
                        ray.get(ref)
                    except ray.exceptions.RayTaskError as exc:
                        cause = exc.as_instanceof_cause()
                        if isinstance(cause, MusicVidError):
                            raise cause from None
                        raise StageError(f"a Ray worker failed: {exc}", stage=ctx.stage,
                                         retryable=is_retryable(cause)) from exc
                    except ray.exceptions.RayActorError as exc:  # lost: another try may work
                        raise StageError(f"a Ray worker died {MAX_RESTARTS + 1} times: {exc}",
                                         stage=ctx.stage, retryable=True) from exc
                    idle.append(actor)
                    yield task
        finally:
            for ref in pending:
                ray.cancel(ref)

    def run_keyframes(self, tasks: Sequence[KeyframeTask], ctx: StageContext,
                      cache: Cache) -> Iterator[KeyframeTask]:
        board = ctx.extra.get("storyboard")
        config_ref = self.ray.put(ctx.config)
        board_ref = self.ray.put(board)
        root = str(cache.root)
        return self._run(tasks, lambda a, t: a.keyframes.remote(config_ref, board_ref, t, root),
                         ctx)

    def run_clips(self, tasks: Sequence[ClipTask], board: Storyboard, analysis: Analysis,
                  ctx: StageContext, cache: Cache) -> Iterator[ClipTask]:
        refs = (self.ray.put(ctx.config), self.ray.put(board), self.ray.put(analysis))
        root = str(cache.root)
        return self._run(tasks, lambda a, t: a.clip.remote(*refs, t, root), ctx)

    def shutdown(self) -> None:
        for actor in self.actors:
            self.ray.kill(actor)
        self.actors = []
