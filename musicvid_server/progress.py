"""A job's progress: the pipeline's progress callback turned into the job's stage, a
fraction 0..1 of the whole job, a message and an ETA, written to the store a few times
a second at most. Progress is best effort: a failed write is logged and the render goes
on."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from .store import STORE_ERRORS, JobStore

__all__ = ["PHASES", "ProgressTracker"]

log = logging.getLogger(__name__)

# Share of the whole job each stage stands for: (start, width). Motion frames stream
# into the encoder, so the composite frame count measures both.
PHASES: dict[str, tuple[float, float]] = {
    "analyze": (0.0, 0.05),
    "plan": (0.05, 0.01),
    "keyframes": (0.06, 0.64),
    "motion": (0.70, 0.0),
    "composite": (0.70, 0.30),
}


class ProgressTracker:
    """The pipeline's progress callback -> the job's stage, progress 0..1, message, ETA."""

    def __init__(self, store: JobStore, job_id: str, *, min_interval: float = 0.25,
                 clock: Callable[[], float] = time.monotonic):
        self.store = store
        self.job_id = job_id
        self.min_interval = min_interval
        self.clock = clock
        self.started = clock()
        self.progress = 0.0
        self.stage: str | None = None
        self._last_write = float("-inf")
        self.failed_writes = 0

    def __call__(self, stage: str, done: int, total: int, message: str = "") -> None:
        start, width = PHASES.get(stage, (self.progress, 0.0))
        frac = 1.0 if total <= 0 else min(1.0, max(0.0, done / total))
        self.progress = min(0.99, max(self.progress, start + width * frac))
        text = f"{message} ({done}/{total})" if total > 0 else message
        now = self.clock()
        if stage != self.stage or now - self._last_write >= self.min_interval:
            self.stage = stage
            self._last_write = now
            try:
                self.store.update_progress(self.job_id, stage, self.progress, text,
                                           self.eta(now))
            except STORE_ERRORS as exc:  # progress is best effort: keep rendering
                self.failed_writes += 1
                if self.failed_writes == 1 or self.failed_writes % 100 == 0:
                    log.warning("job %s: progress not saved (%d so far): %s", self.job_id,
                                self.failed_writes, exc)

    def eta(self, now: float | None = None) -> float | None:
        """Seconds left at the average speed of this attempt so far."""
        elapsed = (self.clock() if now is None else now) - self.started
        if self.progress < 0.02 or elapsed <= 0:
            return None
        return max(0.0, elapsed * (1.0 - self.progress) / self.progress)
