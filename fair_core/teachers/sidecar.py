"""Tables beside the response cache (same SQLite file or Postgres database): spend, budget holds, batch jobs.

`spend` holds one row per paid reply (run, teacher, request key, mode, USD), so a run's budget counts what
earlier attempts of the same run spent. `holds` keeps each process's budget reservations still in flight
(checked against the budget with the spend in one locked transaction, so workers sharing a budget never
overspend it together). `batch_jobs` holds every submitted batch job, written as soon as
the provider returns its id, so a restarted run resumes polling the job instead of submitting it again.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fair_core.teachers.batch import BatchJob
from fair_core.teachers.claims import HOST, STALE_AFTER_S, owner_alive
from fair_core.teachers.db import Connection, Database, ddl, is_url, open_database, upsert
from fair_core.teachers.integrity import check_reply_cache

SPEND_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS spend (
        run_id TEXT NOT NULL, teacher TEXT NOT NULL, request_key TEXT NOT NULL, mode TEXT NOT NULL,
        cost_usd REAL NOT NULL, at REAL NOT NULL)""",
    "CREATE INDEX IF NOT EXISTS spend_run ON spend (run_id)",
    """CREATE TABLE IF NOT EXISTS holds (
        holder TEXT PRIMARY KEY, run_id TEXT NOT NULL, held_usd REAL NOT NULL, host TEXT NOT NULL,
        pid INTEGER NOT NULL, at REAL NOT NULL)""",
)
_SCHEMA = (
    *SPEND_SCHEMA,
    """CREATE TABLE IF NOT EXISTS batch_jobs (
        job_key TEXT PRIMARY KEY, teacher TEXT NOT NULL, provider TEXT NOT NULL, job_id TEXT NOT NULL,
        state TEXT NOT NULL, custom_ids TEXT NOT NULL, meta TEXT NOT NULL, error TEXT,
        submitted_at REAL NOT NULL, finished_at REAL, consumed INTEGER NOT NULL DEFAULT 0)""",
    "CREATE INDEX IF NOT EXISTS batch_jobs_teacher ON batch_jobs (teacher, consumed)",
)


_JOB_COLUMNS = (
    "job_key",
    "teacher",
    "provider",
    "job_id",
    "state",
    "custom_ids",
    "meta",
    "error",
    "submitted_at",
    "finished_at",
    "consumed",
)
_JOBS = ", ".join(_JOB_COLUMNS)


@dataclass(frozen=True)
class SpendRow:
    """One paid reply of a run, as the `spend` table keeps it."""

    run_id: str
    teacher: str
    request_key: str
    mode: str
    cost_usd: float
    holder: str = ""  # the ledger whose budget hold `reserved_usd` ends with this row ("": none)
    reserved_usd: float = 0.0

    def values(self) -> tuple[str, str, str, str, float, float]:
        return (self.run_id, self.teacher, self.request_key, self.mode, float(self.cost_usd), time.time())


_RELEASE = "UPDATE holds SET held_usd = CASE WHEN held_usd > ? THEN held_usd - ? ELSE 0 END WHERE holder = ?"


def spend_statements(conn: Connection, row: SpendRow) -> None:
    """Write a paid reply's spend row (when it cost anything) and end its budget hold, in `conn`'s
    transaction: the spend and the end of its reservation are seen together by every process."""
    if row.cost_usd > 0:
        conn.execute("INSERT INTO spend VALUES (?, ?, ?, ?, ?, ?)", row.values())
    if row.holder and row.reserved_usd > 0:
        conn.execute(_RELEASE, (row.reserved_usd, row.reserved_usd, row.holder))


class Sidecar:
    """Thread-safe access (a connection per thread) to the sidecar tables at `where`: a SQLite file (WAL,
    busy timeout), a `postgresql://` URL or a cache's open `Database`."""

    def __init__(self, where: str | Path | Database, busy_timeout_s: float = 30.0) -> None:
        if isinstance(where, str | Path) and not is_url(where):
            check_reply_cache(where)
        self._db = open_database(where, "sidecar tables", busy_timeout_s)
        self.location = self._db.location
        self.path: Path | str = getattr(self._db, "path", self.location)
        self.busy_timeout_s = busy_timeout_s
        self.errors = self._db.errors
        self._put_job = upsert("batch_jobs", _JOB_COLUMNS, "job_key", self._db.dialect)
        self._hold = upsert(
            "holds", ("holder", "run_id", "held_usd", "host", "pid", "at"), "holder", self._db.dialect
        )
        with self._db.transaction(lock="fair-schema") as conn:
            for statement in _SCHEMA:
                conn.execute(ddl(statement, self._db.dialect))

    def __repr__(self) -> str:
        return f"Sidecar({self.location!r})"

    def close(self) -> None:
        """Close every thread's connection (reopened on next use)."""
        self._db.close()

    def _query(self, sql: str, args: Sequence[Any] = ()) -> list[Any]:
        return self._db.query(sql, args)

    # --- spend ------------------------------------------------------------------------------------------

    def spent(self, run_id: str) -> float:
        row = self._query("SELECT SUM(cost_usd) FROM spend WHERE run_id = ?", (run_id,))[0]
        return float(row[0] or 0.0)

    def add_spend(self, run_id: str, teacher: str, request_key: str, mode: str, cost_usd: float) -> None:
        self.add_spend_row(SpendRow(run_id, teacher, request_key, mode, cost_usd))

    def add_spend_row(self, row: SpendRow) -> None:
        """A spend row and the end of its budget hold, in one transaction."""
        with self._db.transaction() as conn:
            spend_statements(conn, row)

    # --- budget holds (reservations of requests in flight, shared by every process of a run) -----------

    def hold(self, run_id: str, holder: str, amount_usd: float, budget_usd: float) -> bool:
        """Add `amount_usd` to `holder`'s hold if the run's spend plus every live hold (other processes'
        included) stays within `budget_usd`; False (nothing held) otherwise. One transaction under the
        run's lock: two processes never both take the last of the budget."""
        with self._db.transaction(lock=f"budget:{run_id}") as conn:
            spent = conn.execute("SELECT SUM(cost_usd) FROM spend WHERE run_id = ?", (run_id,)).fetchone()
            rows = conn.execute(
                "SELECT holder, held_usd, host, pid, at FROM holds WHERE run_id = ?", (run_id,)
            ).fetchall()
            now, mine = time.time(), 0.0
            held = 0.0
            for who, usd, host, pid, at in rows:
                if who == holder:
                    mine = float(usd)
                elif owner_alive(host, int(pid)) and now - float(at) <= STALE_AFTER_S:
                    held += float(usd)
            if float(spent[0] or 0.0) + held + mine + amount_usd > budget_usd + 1e-12:
                return False
            conn.execute(self._hold, (holder, run_id, mine + amount_usd, HOST, os.getpid(), now))
            return True

    def release_hold(self, holder: str, amount_usd: float) -> None:
        """Give back part of a hold (a request that was not paid)."""
        with self._db.transaction() as conn:
            conn.execute(_RELEASE, (amount_usd, amount_usd, holder))

    def drop_hold(self, holder: str) -> None:
        with self._db.transaction() as conn:
            conn.execute("DELETE FROM holds WHERE holder = ?", (holder,))

    def cached_paid(self, run_id: str) -> int:
        """How many distinct replies the run paid for are in the reply cache (when it shares this file)."""
        query = (
            "SELECT COUNT(DISTINCT s.request_key) FROM spend s JOIN responses r ON r.key = s.request_key "
            "WHERE s.run_id = ?"
        )
        try:
            row = self._query(query, (run_id,))[0]
        except self.errors:  # a sidecar file of its own (tests): no reply cache in it
            row = self._query("SELECT COUNT(DISTINCT request_key) FROM spend WHERE run_id = ?", (run_id,))[0]
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
        rows = self._query(f"SELECT {_JOBS} FROM batch_jobs WHERE job_key = ?", (job_key,))
        return self._record(rows[0]) if rows else None

    def open_jobs(self, teacher: str, provider: str) -> list[BatchJob]:
        """Jobs of a teacher whose results have not been consumed yet, oldest first."""
        rows = self._query(
            f"SELECT {_JOBS} FROM batch_jobs WHERE teacher = ? AND provider = ? AND consumed = 0 "
            "ORDER BY submitted_at",
            (teacher, provider),
        )
        return [self._record(r) for r in rows]

    def put_job(self, job: BatchJob) -> None:
        """Insert or update a job record in its own committed transaction."""
        with self._db.transaction() as conn:
            conn.execute(
                self._put_job,
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
        query, args = f"SELECT {_JOBS} FROM batch_jobs", ()
        if teacher is not None:
            query, args = query + " WHERE teacher = ?", (teacher,)
        return [self._record(r) for r in self._query(query + " ORDER BY submitted_at", args)]
