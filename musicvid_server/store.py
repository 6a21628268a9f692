"""The job store: one SQLite file, the source of truth for every job.

A job moves ``queued -> running -> succeeded | failed | canceled``; a running job whose
process died goes back to ``queued`` on the next start (its ``attempts`` counter keeps
counting) until it has been tried ``max_attempts`` times. One connection is shared by
the server's threads behind a lock; every statement is short.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

__all__ = ["ACTIVE_STATES", "FINAL_STATES", "STATES", "STORE_ERRORS", "Job", "JobStore",
           "job_dir", "parse_job_id"]

STATES = ("queued", "running", "succeeded", "failed", "canceled")
ACTIVE_STATES = ("queued", "running")
FINAL_STATES = ("succeeded", "failed", "canceled")
STORE_ERRORS = (sqlite3.Error, OSError)  # what a database write can raise (a full disk...)

SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    state TEXT NOT NULL,
    stage TEXT,
    progress REAL NOT NULL DEFAULT 0,
    message TEXT NOT NULL DEFAULT '',
    eta_s REAL,
    error TEXT,
    genre TEXT NOT NULL,
    style TEXT NOT NULL,
    palette TEXT NOT NULL,
    seed INTEGER NOT NULL,
    filename TEXT NOT NULL DEFAULT '',
    duration_s REAL,
    config TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    cancel_requested INTEGER NOT NULL DEFAULT 0,
    created REAL NOT NULL,
    updated REAL NOT NULL,
    started REAL,
    finished REAL,
    expired INTEGER NOT NULL DEFAULT 0,
    stats TEXT
);
CREATE INDEX IF NOT EXISTS jobs_state_seq ON jobs(state, seq);
"""


def parse_job_id(text: object) -> str | None:
    """The canonical form of a job id, or None if ``text`` is not a UUID.

    Only ids that went through here are ever joined to a path.
    """
    if not isinstance(text, str) or len(text) > 64:
        return None
    try:
        return str(uuid.UUID(text))
    except ValueError:
        return None


def job_dir(data_dir: Path, job_id: str) -> Path:
    """The folder of a job; ``job_id`` must be canonical (see :func:`parse_job_id`)."""
    canonical = parse_job_id(job_id)
    if canonical is None or canonical != job_id:
        raise ValueError(f"not a canonical job id: {job_id!r}")
    return data_dir / "jobs" / canonical


def iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, tz=timezone.utc).isoformat(timespec="milliseconds").replace(
        "+00:00", "Z")


@dataclass
class Job:
    id: str
    seq: int
    state: str
    stage: str | None
    progress: float
    message: str
    eta_s: float | None
    error: str | None
    genre: str
    style: str
    palette: str
    seed: int
    filename: str
    duration_s: float | None
    config: dict[str, Any]
    attempts: int
    cancel_requested: bool
    created: float
    updated: float
    started: float | None
    finished: float | None
    expired: bool
    stats: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> Job:
        d = dict(row)
        d["config"] = json.loads(d["config"])
        d["stats"] = json.loads(d["stats"]) if d["stats"] else {}
        d["cancel_requested"] = bool(d["cancel_requested"])
        d["expired"] = bool(d["expired"])
        return cls(**d)

    def to_api(self, queue_position: int | None = None) -> dict[str, Any]:
        """The JSON the status endpoint returns."""
        result = None
        if self.state == "succeeded" and not self.expired:
            result = f"/api/generate/result?job_id={self.id}"
        return {
            "job_id": self.id,
            "state": self.state,
            "stage": self.stage,
            "progress": round(self.progress, 4),
            "message": self.message,
            "eta_s": None if self.eta_s is None else round(self.eta_s, 1),
            "queue_position": queue_position,
            "error": self.error if self.state == "failed" else None,
            "created": iso(self.created),
            "updated": iso(self.updated),
            "started": iso(self.started),
            "finished": iso(self.finished),
            "attempts": self.attempts,
            "genre": self.genre,
            "style": self.style,
            "palette": self.palette,
            "seed": self.seed,
            "filename": self.filename,
            "duration_s": None if self.duration_s is None else round(self.duration_s, 3),
            "result_url": result,
            "result_expired": self.expired,
            "stats": self.stats,
        }


class JobStore:
    """Jobs in ``path`` (SQLite, WAL). Safe to share between threads."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        if not self.path.exists():  # only the server's user reads it (-wal/-shm follow)
            os.close(os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600))
        self._lock = threading.RLock()
        self._db = sqlite3.connect(str(self.path), check_same_thread=False,
                                   isolation_level=None, timeout=30)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(SCHEMA)
        self._versions: dict[str, int] = {}  # job id -> change counter (for event streams)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def _bump(self, job_id: str, final: bool = False) -> None:
        if final:  # a finished job changes no more: forget its counter (0 differs from
            self._versions.pop(job_id, None)  # every earlier value, so watchers see it)
        else:
            self._versions[job_id] = self._versions.get(job_id, 0) + 1

    def version(self, job_id: str) -> int:
        """A number that changes whenever the job changes (in this process); only
        unfinished jobs take memory for it."""
        return self._versions.get(job_id, 0)

    # -- reads ---------------------------------------------------------------------------
    def get(self, job_id: str) -> Job | None:
        with self._lock:
            row = self._db.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return Job.from_row(row) if row else None

    def queue_position(self, job: Job) -> int | None:
        """1 for the next job to start, 2 for the one after... None when not queued."""
        if job.state != "queued":
            return None
        with self._lock:
            (ahead,) = self._db.execute(
                "SELECT COUNT(*) FROM jobs WHERE state = 'queued' AND seq < ?",
                (job.seq,)).fetchone()
        return int(ahead) + 1

    def list_jobs(self, limit: int, offset: int, state: str | None = None) -> tuple[list[Job], int]:
        """Newest first; returns (page, total)."""
        where, args = ("WHERE state = ?", [state]) if state else ("", [])
        with self._lock:
            (total,) = self._db.execute(f"SELECT COUNT(*) FROM jobs {where}", args).fetchone()
            rows = self._db.execute(f"SELECT * FROM jobs {where} ORDER BY seq DESC LIMIT ? "
                                    "OFFSET ?", [*args, limit, offset]).fetchall()
        return [Job.from_row(r) for r in rows], int(total)

    def queued_positions(self) -> dict[str, int]:
        with self._lock:
            rows = self._db.execute(
                "SELECT id FROM jobs WHERE state = 'queued' ORDER BY seq").fetchall()
        return {r["id"]: i + 1 for i, r in enumerate(rows)}

    def running_ids(self) -> list[str]:
        with self._lock:
            rows = self._db.execute("SELECT id FROM jobs WHERE state = 'running'").fetchall()
        return [r["id"] for r in rows]

    def count(self, state: str) -> int:
        with self._lock:
            (n,) = self._db.execute("SELECT COUNT(*) FROM jobs WHERE state = ?",
                                    (state,)).fetchone()
        return int(n)

    # -- writes --------------------------------------------------------------------------
    def create(self, job_id: str, *, genre: str, style: str, palette: str, seed: int,
               filename: str, duration_s: float | None, config: dict[str, Any]) -> Job:
        now = time.time()
        with self._tx() as db:
            db.execute(
                "INSERT INTO jobs (id, state, message, genre, style, palette, seed, filename, "
                "duration_s, config, created, updated) VALUES (?, 'queued', 'waiting in the "
                "queue', ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (job_id, genre, style, palette, seed, filename, duration_s,
                 json.dumps(config), now, now))
            self._bump(job_id)
        job = self.get(job_id)
        assert job is not None
        return job

    def claim_next(self) -> Job | None:
        """Mark the oldest queued job running (one more attempt) and return it."""
        now = time.time()
        with self._tx() as db:
            row = db.execute("SELECT id FROM jobs WHERE state = 'queued' ORDER BY seq "
                             "LIMIT 1").fetchone()
            if row is None:
                return None
            db.execute("UPDATE jobs SET state = 'running', attempts = attempts + 1, "
                       "started = ?, updated = ?, message = 'starting', eta_s = NULL "
                       "WHERE id = ?", (now, now, row["id"]))
            self._bump(row["id"])
        return self.get(row["id"])

    def update_progress(self, job_id: str, stage: str | None, progress: float, message: str,
                        eta_s: float | None) -> None:
        with self._tx() as db:
            cur = db.execute("UPDATE jobs SET stage = ?, progress = ?, message = ?, eta_s = ?, "
                             "updated = ? WHERE id = ? AND state = 'running'",
                             (stage, progress, message, eta_s, time.time(), job_id))
            if cur.rowcount:
                self._bump(job_id)

    def finish(self, job_id: str, state: str, *, message: str, error: str | None = None,
               stats: dict[str, Any] | None = None) -> None:
        assert state in FINAL_STATES
        now = time.time()
        with self._tx() as db:
            sets = ("state = ?, message = ?, error = ?, eta_s = NULL, finished = ?, "
                    "updated = ?")
            args: list[Any] = [state, message, error, now, now]
            if state == "succeeded":
                sets += ", progress = 1"
            if stats is not None:
                sets += ", stats = ?"
                args.append(json.dumps(stats))
            db.execute(f"UPDATE jobs SET {sets} WHERE id = ?", [*args, job_id])
            self._bump(job_id, final=True)

    def requeue(self, job_id: str, *, error: str | None = None, refund: bool = False) -> None:
        """Back to the queue (after a crash or a shutdown); ``refund`` undoes the attempt."""
        with self._tx() as db:
            db.execute("UPDATE jobs SET state = 'queued', stage = NULL, progress = 0, "
                       "eta_s = NULL, message = ?, error = COALESCE(?, error), updated = ?, "
                       "attempts = MAX(0, attempts - ?) WHERE id = ?",
                       ("waiting to resume" if not error else "waiting to retry", error,
                        time.time(), 1 if refund else 0, job_id))
            self._bump(job_id)

    def request_cancel(self, job_id: str) -> Job | None:
        """Cancel a queued job now, or flag a running one; returns the job after."""
        now = time.time()
        with self._tx() as db:
            db.execute("UPDATE jobs SET state = 'canceled', message = 'canceled', "
                       "finished = ?, updated = ?, eta_s = NULL WHERE id = ? AND "
                       "state = 'queued'", (now, now, job_id))
            db.execute("UPDATE jobs SET cancel_requested = 1, message = 'canceling', "
                       "updated = ? WHERE id = ? AND state = 'running'", (now, job_id))
        job = self.get(job_id)
        if job is not None:
            self._bump(job_id, final=job.state in FINAL_STATES)
        return job

    def recover(self, max_attempts: int,
                ids: list[str] | None = None) -> tuple[list[str], list[str]]:
        """After a restart: running jobs go back to the queue, or fail once they have
        been tried ``max_attempts`` times; a cancel asked for ends them canceled. With
        ``ids``, only those jobs (running rows no worker runs, found without a restart).
        Returns (requeued ids, given-up ids)."""
        requeued, gave_up = [], []
        now = time.time()
        with self._tx() as db:
            rows = db.execute("SELECT id, attempts, error, cancel_requested FROM jobs "
                              "WHERE state = 'running'").fetchall()
            if ids is not None:
                wanted = set(ids)
                rows = [r for r in rows if r["id"] in wanted]
            for r in rows:
                if r["cancel_requested"]:
                    db.execute("UPDATE jobs SET state = 'canceled', message = 'canceled', "
                               "finished = ?, updated = ? WHERE id = ?", (now, now, r["id"]))
                elif r["attempts"] >= max_attempts:
                    last = f"; last error: {r['error']}" if r["error"] else ""
                    error = (f"gave up after {r['attempts']} attempts: the server stopped "
                             f"while rendering this job each time{last}")
                    db.execute("UPDATE jobs SET state = 'failed', error = ?, message = "
                               "'failed', finished = ?, updated = ?, eta_s = NULL WHERE id = ?",
                               (error, now, now, r["id"]))
                    gave_up.append(r["id"])
                else:
                    db.execute("UPDATE jobs SET state = 'queued', stage = NULL, progress = 0, "
                               "eta_s = NULL, message = 'waiting to resume', updated = ? "
                               "WHERE id = ?", (now, r["id"]))
                    requeued.append(r["id"])
                self._bump(r["id"], final=r["id"] not in requeued)
        return requeued, gave_up

    def expire_before(self, cutoff: float) -> list[str]:
        """Mark finished jobs older than ``cutoff`` expired; returns their ids."""
        with self._tx() as db:
            rows = db.execute("SELECT id FROM jobs WHERE expired = 0 AND finished IS NOT NULL "
                              "AND finished < ?", (cutoff,)).fetchall()
            ids = [r["id"] for r in rows]
            db.executemany("UPDATE jobs SET expired = 1, updated = ? WHERE id = ?",
                           [(time.time(), i) for i in ids])
        return ids
