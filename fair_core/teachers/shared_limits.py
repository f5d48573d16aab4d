"""Rate limits shared by every process using one database: a GCRA bucket per limit, kept in a row.

Several Prefect workers (processes or machines) pointed at one PostgreSQL reply cache (`cache.url`) share a
teacher's RPM and TPM through the table `rate_buckets` instead of splitting the provider's limit by hand.
Each bucket is the generic cell rate algorithm: a theoretical arrival time `tat` per key. A request of
cost n arriving at `a` (now, or later when another limit already holds it) reserves `new_tat = max(tat, a)
+ n*T` and is sent at `max(new_tat - C*T, a)` (C: capacity, T: seconds per unit). Reservations are taken
in a transaction under the key's lock (Postgres: an advisory lock; SQLite: the file's write lock), so
processes are served in reservation order and the bound of `runtime.py`'s module doc holds across all of
them: with C = 1, sends are at least T apart. `now` is the database's clock on Postgres
(`clock_timestamp()`), so workers on machines with skewed clocks agree; a process sleeps the returned
number of seconds, measured on that same clock.

Use: `SharedBucket(open_database(url), "openai|gpt-4o-mini|rpm", capacity=1, interval_s=0.102).reserve(1)`.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from fair_core.teachers.db import Database, ddl

TABLE = "rate_buckets"
_CREATE = f"CREATE TABLE IF NOT EXISTS {TABLE} (key TEXT PRIMARY KEY, tat REAL NOT NULL)"


def ensure_table(db: Database) -> None:
    """Create `rate_buckets` if missing (idempotent, safe to race)."""
    with db.transaction(lock=f"{TABLE}:create") as conn:
        conn.execute(ddl(_CREATE, db.dialect))


def db_now(db: Database, conn: object, clock: Callable[[], float]) -> float:
    """Seconds since the epoch on the database's clock (Postgres) or `clock` (SQLite: one machine)."""
    if db.dialect == "postgres":
        row = conn.execute("SELECT extract(epoch from clock_timestamp())::float8").fetchone()  # type: ignore[attr-defined]
        return float(row[0])
    return clock()


class SharedBucket:
    """One limit (capacity `capacity` units, refilling one unit per `interval_s`) shared through `db`."""

    def __init__(
        self,
        db: Database,
        key: str,
        *,
        capacity: float,
        interval_s: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if capacity <= 0 or interval_s <= 0:
            raise ValueError(f"rate bucket {key!r}: capacity and interval must be positive")
        self.db, self.key, self.capacity, self.interval_s, self.clock = db, key, capacity, interval_s, clock
        self._ready = False

    def __repr__(self) -> str:
        return f"SharedBucket({self.key!r}, capacity={self.capacity}, interval_s={self.interval_s:.4f})"

    def reserve(self, cost: float = 1.0, not_before_s: float = 0.0) -> float:
        """Reserve `cost` units; the seconds to wait before sending (0: now). `not_before_s`: the earliest
        send, in seconds from now (a wait already owed to another limit, so sends stay spaced)."""
        if not self._ready:
            ensure_table(self.db)
            self._ready = True
        with self.db.transaction(lock=f"{TABLE}:{self.key}") as conn:
            now = db_now(self.db, conn, self.clock)
            row = conn.execute(f"SELECT tat FROM {TABLE} WHERE key = ?", (self.key,)).fetchone()
            arrival = now + max(0.0, not_before_s)  # the request counts as arriving when it may leave
            new_tat = max(float(row[0]) if row else arrival, arrival) + cost * self.interval_s
            send_at = max(new_tat - self.capacity * self.interval_s, arrival)
            if row is None:
                conn.execute(f"INSERT INTO {TABLE} (key, tat) VALUES (?, ?)", (self.key, new_tat))
            else:
                conn.execute(f"UPDATE {TABLE} SET tat = ? WHERE key = ?", (new_tat, self.key))
        return max(0.0, send_at - now)
