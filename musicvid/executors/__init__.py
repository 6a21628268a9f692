"""Where stage work runs: in this process (``local``, the default) or on a Ray cluster.

An executor receives units of work (a batch of keyframes, one motion clip) and makes sure
their results land in the content-addressed cache; the pipeline then reads them back.
Executors report completed units as they finish, so progress and cancellation work the
same everywhere.
"""

from __future__ import annotations

from .base import ClipTask, Executor, KeyframeTask, LocalExecutor, get_executor

__all__ = ["ClipTask", "Executor", "KeyframeTask", "LocalExecutor", "get_executor"]
