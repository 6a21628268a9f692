"""The pipeline side of a job: stage objects shared by every job of the server, and the
pipeline that leaves a job's storyboard in its folder.

Stages are created once per (kind, stage name, device) and reused (the SDXL pipeline
stays loaded between jobs); with several workers, the model calls on one device take
turns, so two jobs never drive one diffusers pipeline at once.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from musicvid import Pipeline, RenderConfig
from musicvid.pipeline import create_stage

__all__ = ["JobPipeline", "StagePool"]


class _DeviceLocked:
    """A stage whose model calls take a per-device lock (for several workers)."""

    def __init__(self, stage: Any, lock: threading.Lock):
        self._stage = stage
        self._lock = lock

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stage, name)

    def generate(self, shots: Any, ctx: Any) -> Any:
        with self._lock:
            return self._stage.generate(shots, ctx)

    def animate(self, *args: Any) -> Any:
        with self._lock:
            return self._stage.animate(*args)

    def transcribe(self, audio: Any, ctx: Any) -> Any:
        with self._lock:
            return self._stage.transcribe(audio, ctx)


class StagePool:
    """One instance per (kind, stage name), shared by every job of this server."""

    def __init__(self, serialize_models: bool):
        self.serialize_models = serialize_models
        self._lock = threading.Lock()
        self._stages: dict[tuple[str, str, str], Any] = {}
        self._device_locks: dict[str, threading.Lock] = {}

    def get(self, kind: str, name: str, device: str) -> Any:
        with self._lock:
            key = (kind, name, device)
            if key not in self._stages:
                stage = create_stage(kind, name, RenderConfig())
                if self.serialize_models and kind in ("keyframes", "motion", "transcriber"):
                    lock = self._device_locks.setdefault(device, threading.Lock())
                    stage = _DeviceLocked(stage, lock)
                self._stages[key] = stage
            return self._stages[key]

    def __len__(self) -> int:
        return len(self._stages)

    def factory(self, kind: str, name: str, config: RenderConfig) -> Any:
        """A :data:`musicvid.pipeline.StageFactory`: the pooled stage for this config."""
        return self.get(kind, name, config.device)


class JobPipeline(Pipeline):
    """A pipeline that leaves the job's storyboard and keyframe keys in its folder after
    planning, for the storyboard view (:mod:`musicvid_server.direction`)."""

    def __init__(self, config: RenderConfig, folder: Path | None = None, **kw: Any):
        super().__init__(config, **kw)
        self._folder = folder

    def plan(self, analysis: Any) -> Any:
        board = super().plan(analysis)
        if self._folder is not None:
            from .direction import write_storyboard

            write_storyboard(self._folder, board, self.keyframe_keys(board), self.cache.root)
        return board
