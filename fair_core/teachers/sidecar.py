"""SQLite tables kept beside the response cache (same file): spend per run and batch job records.

`spend` holds one row per paid reply (run, teacher, request key, mode, USD), so a run's budget counts what
earlier attempts of the same run spent. `batch_jobs` holds every submitted batch job, written as soon as
the provider returns its id, so a restarted run resumes polling the job instead of submitting it again.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS spend (
        run_id TEXT NOT NULL, teacher TEXT NOT NULL, request_key TEXT NOT NULL, mode TEXT NOT NULL,
        cost_usd REAL NOT NULL, at REAL NOT NULL)""",
    "CREATE INDEX IF NOT EXISTS spend_run ON spend (run_id)",
    """CREATE TABLE IF NOT EXISTS batch_jobs (
        job_key TEXT PRIMARY KEY, teacher TEXT NOT NULL, provider TEXT NOT NULL, job_id TEXT NOT NULL,
        state TEXT NOT NULL, custom_ids TEXT NOT NULL, meta TEXT NOT NULL, error TEXT,
        submitted_at REAL NOT NULL, finished_at REAL, consumed INTEGER NOT NULL DEFAULT 0)""",
    "CREATE INDEX IF NOT EXISTS batch_jobs_teacher ON batch_jobs (teacher, consumed)",
)


@dataclass
class JobRecord:
    """A persisted batch job: `consumed` once its results are in the cache (or sent to the online path)."""

    job_key: str
    teacher: str
    provider: str
    job_id: str
    state: str
    custom_ids: tuple[str, ...]
    meta: dict[str, str] = field(default_factory=dict)
    error: str | None = None
    submitted_at: float = 0.0
    finished_at: float | None = None
    consumed: bool = False

    def row(self) -> dict[str, Any]:
        """The round store's `batch_jobs` row."""
        return {
            "teacher": self.teacher,
            "job_id": self.job_id,
            "provider": self.provider,
            "state": self.state,
            "n_requests": len(self.custom_ids),
            "submitted_at": self.submitted_at,
            "finished_at": self.finished_at,
            "error": self.error,
        }


class Sidecar:
    """Thread-safe access (a connection per thread, WAL, busy timeout) to the sidecar tables at `path`."""

    def __init__(self, path: str | Path, busy_timeout_s: float = 30.0) -> None:
        self.path = Path(path).expanduser()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.busy_timeout_s = busy_timeout_s
        self._local = threading.local()
        self._lock = threading.Lock()
        self._connections: list[sqlite3.Connection] = []
        with self._tx() as conn:
            for statement in _SCHEMA:
                conn.execute(statement)

    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=self.busy_timeout_s, check_same_thread=False)
            conn.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout_s * 1000)}")
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = NORMAL")
            self._local.conn = conn
            with self._lock:
                self._connections.append(conn)
        return conn

    def close(self) -> None:
        """Close every thread's connection (reopened on next use)."""
        with self._lock:
            connections, self._connections = self._connections, []
            self._local = threading.local()
        for conn in connections:
            conn.close()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        conn = self._conn()
        with conn:
            yield conn

    # --- spend ------------------------------------------------------------------------------------------

    def spent(self, run_id: str) -> float:
        row = self._conn().execute("SELECT SUM(cost_usd) FROM spend WHERE run_id = ?", (run_id,)).fetchone()
        return float(row[0] or 0.0)

    def add_spend(self, run_id: str, teacher: str, request_key: str, mode: str, cost_usd: float) -> None:
        with self._tx() as conn:
            conn.execute(
                "INSERT INTO spend VALUES (?, ?, ?, ?, ?, ?)",
                (run_id, teacher, request_key, mode, float(cost_usd), time.time()),
            )

    # --- batch jobs -------------------------------------------------------------------------------------

    @staticmethod
    def _record(row: Sequence[Any]) -> JobRecord:
        key, teacher, provider, job_id, state, ids, meta, error, submitted, finished, consumed = row
        return JobRecord(
            key,
            teacher,
            provider,
            job_id,
            state,
            tuple(json.loads(ids)),
            json.loads(meta),
            error,
            submitted,
            finished,
            bool(consumed),
        )

    def get_job(self, job_key: str) -> JobRecord | None:
        row = self._conn().execute("SELECT * FROM batch_jobs WHERE job_key = ?", (job_key,)).fetchone()
        return self._record(row) if row else None

    def open_jobs(self, teacher: str, provider: str) -> list[JobRecord]:
        """Jobs of a teacher whose results have not been consumed yet, oldest first."""
        rows = self._conn().execute(
            "SELECT * FROM batch_jobs WHERE teacher = ? AND provider = ? AND consumed = 0 "
            "ORDER BY submitted_at",
            (teacher, provider),
        )
        return [self._record(r) for r in rows]

    def put_job(self, job: JobRecord) -> None:
        """Insert or update a job record in its own committed transaction."""
        with self._tx() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO batch_jobs VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    job.job_key,
                    job.teacher,
                    job.provider,
                    job.job_id,
                    job.state,
                    json.dumps(list(job.custom_ids)),
                    json.dumps(job.meta, sort_keys=True),
                    job.error,
                    job.submitted_at,
                    job.finished_at,
                    int(job.consumed),
                ),
            )

    def jobs(self, teacher: str | None = None) -> list[JobRecord]:
        query, args = "SELECT * FROM batch_jobs", ()
        if teacher is not None:
            query, args = query + " WHERE teacher = ?", (teacher,)
        return [self._record(r) for r in self._conn().execute(query + " ORDER BY submitted_at", args)]
