"""SQLite tables kept beside the response cache (same file): spend per run and batch job records.

`spend` holds one row per paid reply (run, teacher, request key, mode, USD), so a run's budget counts what
earlier attempts of the same run spent. `batch_jobs` holds every submitted batch job, written as soon as
the provider returns its id, so a restarted run resumes polling the job instead of submitting it again.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fair_core.teachers.batch import BatchJob
from fair_core.teachers.integrity import check_reply_cache
from fair_core.teachers.sqlite import ConnectionPool

SPEND_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS spend (
        run_id TEXT NOT NULL, teacher TEXT NOT NULL, request_key TEXT NOT NULL, mode TEXT NOT NULL,
        cost_usd REAL NOT NULL, at REAL NOT NULL)""",
    "CREATE INDEX IF NOT EXISTS spend_run ON spend (run_id)",
)
_SCHEMA = (
    *SPEND_SCHEMA,
    """CREATE TABLE IF NOT EXISTS batch_jobs (
        job_key TEXT PRIMARY KEY, teacher TEXT NOT NULL, provider TEXT NOT NULL, job_id TEXT NOT NULL,
        state TEXT NOT NULL, custom_ids TEXT NOT NULL, meta TEXT NOT NULL, error TEXT,
        submitted_at REAL NOT NULL, finished_at REAL, consumed INTEGER NOT NULL DEFAULT 0)""",
    "CREATE INDEX IF NOT EXISTS batch_jobs_teacher ON batch_jobs (teacher, consumed)",
)


@dataclass(frozen=True)
class SpendRow:
    """One paid reply of a run, as the `spend` table keeps it."""

    run_id: str
    teacher: str
    request_key: str
    mode: str
    cost_usd: float

    def values(self) -> tuple[str, str, str, str, float, float]:
        return (self.run_id, self.teacher, self.request_key, self.mode, float(self.cost_usd), time.time())


class Sidecar:
    """Thread-safe access (a connection per thread, WAL, busy timeout) to the sidecar tables at `path`."""

    def __init__(self, path: str | Path, busy_timeout_s: float = 30.0) -> None:
        check_reply_cache(path)
        self._pool = ConnectionPool(path, busy_timeout_s, "sidecar tables")
        self.path, self.busy_timeout_s = self._pool.path, busy_timeout_s
        with self._pool.transaction() as conn:
            for statement in _SCHEMA:
                conn.execute(statement)

    def close(self) -> None:
        """Close every thread's connection (reopened on next use)."""
        self._pool.close()

    def _query(self, sql: str, args: Sequence[Any] = ()) -> sqlite3.Cursor:
        return self._pool.connect().execute(sql, args)

    # --- spend ------------------------------------------------------------------------------------------

    def spent(self, run_id: str) -> float:
        row = self._query("SELECT SUM(cost_usd) FROM spend WHERE run_id = ?", (run_id,)).fetchone()
        return float(row[0] or 0.0)

    def add_spend(self, run_id: str, teacher: str, request_key: str, mode: str, cost_usd: float) -> None:
        with self._pool.transaction() as conn:
            conn.execute(
                "INSERT INTO spend VALUES (?, ?, ?, ?, ?, ?)",
                SpendRow(run_id, teacher, request_key, mode, cost_usd).values(),
            )

    def cached_paid(self, run_id: str) -> int:
        """How many distinct replies the run paid for are in the reply cache (when it shares this file)."""
        query = (
            "SELECT COUNT(DISTINCT s.request_key) FROM spend s JOIN responses r ON r.key = s.request_key "
            "WHERE s.run_id = ?"
        )
        try:
            row = self._query(query, (run_id,)).fetchone()
        except sqlite3.OperationalError:  # a sidecar file of its own (tests): no reply cache in it
            row = self._query("SELECT COUNT(DISTINCT request_key) FROM spend WHERE run_id = ?", (run_id,))
            row = row.fetchone()
        return int(row[0] or 0)

    # --- batch jobs -------------------------------------------------------------------------------------

    @staticmethod
    def _record(row: Sequence[Any]) -> BatchJob:
        key, teacher, provider, job_id, state, ids, meta, error, submitted, finished, consumed = row
        return BatchJob(
            job_id=job_id,
            provider=provider,
            teacher=teacher,
            custom_ids=tuple(json.loads(ids)),
            state=state,
            meta=json.loads(meta),
            error=error,
            job_key=key,
            submitted_at=submitted,
            finished_at=finished,
            consumed=bool(consumed),
        )

    def get_job(self, job_key: str) -> BatchJob | None:
        row = self._query("SELECT * FROM batch_jobs WHERE job_key = ?", (job_key,)).fetchone()
        return self._record(row) if row else None

    def open_jobs(self, teacher: str, provider: str) -> list[BatchJob]:
        """Jobs of a teacher whose results have not been consumed yet, oldest first."""
        rows = self._query(
            "SELECT * FROM batch_jobs WHERE teacher = ? AND provider = ? AND consumed = 0 "
            "ORDER BY submitted_at",
            (teacher, provider),
        )
        return [self._record(r) for r in rows]

    def put_job(self, job: BatchJob) -> None:
        """Insert or update a job record in its own committed transaction."""
        with self._pool.transaction() as conn:
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

    def jobs(self, teacher: str | None = None) -> list[BatchJob]:
        query, args = "SELECT * FROM batch_jobs", ()
        if teacher is not None:
            query, args = query + " WHERE teacher = ?", (teacher,)
        return [self._record(r) for r in self._query(query + " ORDER BY submitted_at", args)]
