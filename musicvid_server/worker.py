"""The render workers: threads that take queued jobs from the store and run the pipeline.

- ``workers`` threads (default 1) each run one job at a time. Stage objects are created
  once and shared by all jobs (stages are built to be reused; the SDXL pipeline stays
  loaded between jobs), and with several workers the model calls of one device take
  turns, so two jobs never drive one diffusers pipeline at once
  (:mod:`musicvid_server.stagepool`).
- Progress goes to the store (at most a few writes a second,
  :mod:`musicvid_server.progress`); cancellation is an event the pipeline checks between
  units of work.
- The pipeline tags every stage error with whether a retry can help
  (:func:`musicvid.errors.tagged`): bad input, bad settings or a plugin's bug fail the job
  at once with that message; out of memory, a lost Ray worker, a transient I/O error, the
  server's own errors or the process dying mid-job put it back in the queue until it has
  had ``max_attempts`` tries.
- A janitor deletes finished results after the TTL, leftover uploads, and (when the
  stage cache is the server's own) cache entries older than the TTL while idle.
- The database can fail to write (a full disk). Progress is best effort: a failed
  progress write is logged and the render goes on. The final state of a job is retried
  a few times; if the database still refuses, it is kept in memory and written as soon
  as the database takes writes again. A ``running`` row that no worker thread is
  running (its final write was lost, a thread died) is put back in the queue, failed
  or canceled like after a restart, without a restart.
"""

from __future__ import annotations

import logging
import shutil
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from musicvid import MusicVidError, Pipeline, RenderCancelled, RenderConfig

from .progress import PHASES, ProgressTracker  # noqa: F401  (PHASES: re-exported)
from .settings import ServerSettings
from .stagepool import JobPipeline, StagePool
from .store import STORE_ERRORS, Job, JobStore, job_dir, parse_job_id

__all__ = ["JobPipeline", "ProgressTracker", "StagePool", "Worker", "job_dir"]

log = logging.getLogger(__name__)

RETRY_DELAYS = (0.05, 0.2, 0.5, 1.0)  # seconds between tries of a job's final write


class Worker:
    """Runs queued jobs on ``settings.workers`` threads until :meth:`stop`."""

    def __init__(self, settings: ServerSettings, store: JobStore):
        self.settings = settings
        self.store = store
        self.data_dir = settings.data_dir
        self.pool = StagePool(serialize_models=settings.workers > 1)
        self._threads: list[threading.Thread] = []
        self._stopping = threading.Event()
        self._wake = threading.Event()
        self._claim_lock = threading.Lock()
        self._active = 0
        self._cancel: dict[str, threading.Event] = {}
        self._live: set[str] = set()  # jobs a worker thread is running now
        self._unsaved: dict[str, Callable[[], None]] = {}  # final writes the db refused
        self._unsaved_lock = threading.Lock()
        self.jobs_run = 0

    # -- lifecycle -----------------------------------------------------------------------
    def start(self) -> None:
        requeued, gave_up = self.store.recover(self.settings.max_attempts)
        if requeued:
            log.info("resuming %d interrupted job(s): %s", len(requeued), ", ".join(requeued))
        for job_id in gave_up:
            log.warning("job %s failed: interrupted %d times", job_id,
                        self.settings.max_attempts)
            self._discard_inputs(job_id)
        self.cleanup(startup=True)
        for i in range(self.settings.workers):
            t = threading.Thread(target=self._loop, name=f"musicvid-worker-{i}", daemon=True)
            t.start()
            self._threads.append(t)
        t = threading.Thread(target=self._janitor, name="musicvid-janitor", daemon=True)
        t.start()
        self._threads.append(t)

    def stop(self, timeout: float = 30.0) -> bool:
        """Stop taking jobs; running ones stop at their next check and go back to the
        queue (without using up an attempt), to resume on the next start. Returns
        whether every thread ended within ``timeout`` (one still inside a long model
        step is left to die with the process; its job resumes on the next start)."""
        self._stopping.set()
        self._wake.set()
        deadline = time.monotonic() + timeout
        for t in self._threads:
            t.join(max(0.0, deadline - time.monotonic()))
        alive = [t.name for t in self._threads if t.is_alive()]
        if alive:
            log.warning("still busy at shutdown: %s", ", ".join(alive))
        self._threads.clear()
        return not alive

    def notify(self) -> None:
        """A job was queued."""
        self._wake.set()

    def cancel(self, job_id: str) -> None:
        event = self._cancel.get(job_id)
        if event is not None:
            event.set()

    @property
    def active(self) -> int:
        return self._active

    def has_job(self, job_id: str) -> bool:
        """Whether a worker thread runs ``job_id`` or holds its unsaved final state."""
        with self._unsaved_lock:
            return job_id in self._live or job_id in self._unsaved

    @property
    def unsaved(self) -> list[str]:
        """Jobs whose final state is decided but not yet in the database."""
        with self._unsaved_lock:
            return list(self._unsaved)

    # -- surviving a database that does not write ----------------------------------------
    def _settle(self, job_id: str, action: Callable[[], None]) -> None:
        """Run a job's final write (and what follows it), retried; if the database still
        refuses, keep it for :meth:`reconcile`."""
        for delay in (*RETRY_DELAYS, None):
            try:
                action()
                return
            except STORE_ERRORS as exc:
                if delay is None:
                    log.error("job %s: the final state could not be saved (%s); it is kept "
                              "and saved once the database takes writes again", job_id, exc)
                    with self._unsaved_lock:
                        self._unsaved[job_id] = action
                    return
                log.warning("job %s: saving the final state failed (%s); retrying", job_id,
                            exc)
                time.sleep(delay)

    def reconcile(self) -> dict[str, list[str]]:
        """Write the final states the database refused, then take ``running`` rows that
        no worker thread is running back to the queue (or fail or cancel them, as at a
        restart). Returns what it did; raises if the database still refuses."""
        done: dict[str, list[str]] = {"saved": [], "requeued": [], "gave_up": []}
        with self._unsaved_lock:
            pending = list(self._unsaved.items())
        for job_id, action in pending:
            action()
            with self._unsaved_lock:
                self._unsaved.pop(job_id, None)
            done["saved"].append(job_id)
            log.info("job %s: final state saved", job_id)
        with self._claim_lock:  # no claim in between: a claimed job is in _live at once
            running = self.store.running_ids()
            with self._unsaved_lock:
                busy = self._live | set(self._unsaved)
            stranded = [j for j in running if j not in busy]
            if stranded:
                done["requeued"], done["gave_up"] = self.store.recover(
                    self.settings.max_attempts, ids=stranded)
        for job_id in stranded:
            log.warning("job %s was marked running with no worker on it; recovered", job_id)
        for job_id in set(stranded) - set(done["requeued"]):
            self._discard_inputs(job_id)
        if done["requeued"]:
            self._wake.set()
        return done

    # -- the loop ------------------------------------------------------------------------
    def _loop(self) -> None:
        while not self._stopping.is_set():
            try:
                with self._claim_lock:
                    job = self.store.claim_next()
                    if job is not None:
                        self._active += 1
                        self._live.add(job.id)
            except STORE_ERRORS as exc:  # e.g. a full disk: wait, the janitor reconciles
                log.warning("cannot take the next job: %s", exc)
                job = None
            if job is None:
                self._wake.wait(1.0)
                self._wake.clear()
                continue
            try:
                self._run(job)
            except Exception:  # never let one job take the worker down
                log.exception("job %s: unexpected error in the worker", job.id)
            finally:
                with self._claim_lock:
                    self._active -= 1
                    self._live.discard(job.id)
                self.jobs_run += 1

    def _run(self, job: Job) -> None:
        folder = job_dir(self.data_dir, job.id)
        audio, output = folder / "audio", folder / "video.mp4"
        event = self._cancel.setdefault(job.id, threading.Event())
        try:
            latest = self.store.get(job.id)  # a cancel that came before the event existed
        except STORE_ERRORS:
            latest = None
        if latest is not None and latest.cancel_requested:
            event.set()
        for stale in folder.glob(".video.part*.mp4"):  # a compositor killed mid-write
            stale.unlink(missing_ok=True)
        log.info("job %s: attempt %d starting", job.id, job.attempts)
        pipe: Pipeline | None = None
        try:
            if not audio.is_file():
                raise MusicVidError("the uploaded song is missing from the data directory")
            config = RenderConfig(**job.config)
            tracker = ProgressTracker(self.store, job.id)
            pipe = JobPipeline(config, folder, progress=tracker, stage_factory=self.pool.factory,
                               cancel=lambda: event.is_set() or self._stopping.is_set())
            result = pipe.render(audio, output)
        except RenderCancelled:
            if event.is_set():
                self._settle(job.id, lambda: self._finish(job.id, "canceled",
                                                          message="canceled"))
                log.info("job %s: canceled", job.id)
            else:  # server shutting down: resume on the next start
                self._settle(job.id, lambda: self.store.requeue(job.id, refund=True))
                log.info("job %s: interrupted by shutdown, back in the queue", job.id)
        except Exception as exc:
            # a stage's error says whether a retry can help (musicvid.errors.tagged); any
            # other error is the server's own (its disk, its database): try again
            retry = exc.retryable if isinstance(exc, MusicVidError) else True
            error = str(exc) if isinstance(exc, MusicVidError) else f"{type(exc).__name__}: {exc}"
            if not retry:
                self._settle(job.id, lambda: self._finish(job.id, "failed", message="failed",
                                                          error=error))
                log.warning("job %s failed: %s", job.id, error)
                return
            log.warning("job %s: attempt %d failed, can be retried: %s", job.id, job.attempts,
                        error, exc_info=not isinstance(exc, MusicVidError))
            if job.attempts >= self.settings.max_attempts:
                self._settle(job.id, lambda: self._finish(
                    job.id, "failed", message="failed",
                    error=f"gave up after {job.attempts} attempts; last error: {error}"))
            else:
                self._settle(job.id, lambda: self.store.requeue(job.id, error=error))
                self._wake.set()
        else:
            stats = {k: result.stats.get(k) for k in ("keyframes_generated", "keyframes_cached",
                                                      "analysis_cached", "timings")}
            stats["shots"] = len(result.storyboard.shots)
            stats["frames"] = result.composite.frame_count
            # a cancel that came after the last check: the video is made, say so
            message = ("done (finished before the cancel took effect)" if event.is_set()
                       else "done")
            self._settle(job.id, lambda: self._finish(job.id, "succeeded", message=message,
                                                      stats=stats))
            log.info("job %s: succeeded (%s)", job.id, stats)
        finally:
            if pipe is not None:
                pipe.close()
            self._cancel.pop(job.id, None)

    def _finish(self, job_id: str, state: str, **kw: Any) -> None:
        """The final write, then the files the job needs no more."""
        self.store.finish(job_id, state, **kw)
        if state == "succeeded":
            video = job_dir(self.data_dir, job_id) / "video.mp4"
            if video.is_file():
                video.chmod(0o600)
        self._discard_inputs(job_id, keep_video=state == "succeeded")

    def _discard_inputs(self, job_id: str, keep_video: bool = False) -> None:
        """A finished job needs its upload no more; a failed one needs nothing."""
        folder = job_dir(self.data_dir, job_id)
        if keep_video:
            (folder / "audio").unlink(missing_ok=True)
            shutil.rmtree(folder / "reference", ignore_errors=True)
        else:
            shutil.rmtree(folder, ignore_errors=True)

    # -- cleaning up ---------------------------------------------------------------------
    def _janitor(self) -> None:
        interval = max(0.05, min(self.settings.cleanup_interval_s, self.settings.result_ttl_s / 4))
        tick = min(interval, self.settings.reconcile_interval_s)
        next_cleanup = time.monotonic() + interval
        while not self._stopping.wait(tick):
            try:
                self.reconcile()
            except STORE_ERRORS as exc:
                log.warning("the database still refuses writes: %s", exc)
            except Exception:
                log.exception("reconciling jobs failed")
            if time.monotonic() >= next_cleanup:
                next_cleanup = time.monotonic() + interval
                try:
                    self.cleanup()
                except Exception:
                    log.exception("cleanup failed")

    def cleanup(self, startup: bool = False) -> dict[str, int]:
        """Expire old results; at startup also drop half-received uploads and folders of
        jobs that never made it into the database. Returns what was removed."""
        removed = {"results": 0, "uploads": 0, "orphans": 0, "cache_files": 0}
        cutoff = time.time() - self.settings.result_ttl_s
        for job_id in self.store.expire_before(cutoff):
            shutil.rmtree(job_dir(self.data_dir, job_id), ignore_errors=True)
            removed["results"] += 1
        if startup:
            uploads = self.data_dir / "uploads"
            for p in uploads.glob("*.part") if uploads.is_dir() else []:
                p.unlink(missing_ok=True)
                removed["uploads"] += 1
            jobs = self.data_dir / "jobs"
            for p in jobs.iterdir() if jobs.is_dir() else []:
                canonical = parse_job_id(p.name)
                if canonical is None or canonical != p.name or self.store.get(canonical) is None:
                    shutil.rmtree(p, ignore_errors=True)
                    removed["orphans"] += 1
                    continue
                for stale in p.glob(".video.part*.mp4"):  # left by a kill mid-composite
                    stale.unlink(missing_ok=True)
                    removed["partial_videos"] = removed.get("partial_videos", 0) + 1
        if self.settings.owns_cache:
            with self._claim_lock:  # no job starts while the cache is pruned
                if self._active == 0:
                    removed["cache_files"] = self._prune_cache(cutoff)
        if any(removed.values()):
            log.info("cleanup removed %s", removed)
        return removed

    def _prune_cache(self, cutoff: float) -> int:
        root = Path(self.settings.render_config_kwargs()["cache_dir"])
        n = 0
        for p in root.rglob("*") if root.is_dir() else []:
            try:
                if p.is_file() and p.stat().st_mtime < cutoff:
                    p.unlink()
                    n += 1
            except OSError:
                continue
        return n
