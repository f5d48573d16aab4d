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

`SharedSlots` bounds the requests in flight the same way (`shared_concurrency`): a row per slot in
`rate_leases`, leased for a request's attempt and freed after it; a killed worker's leases expire.

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


LEASES = "rate_leases"
_CREATE_LEASES = (
    f"CREATE TABLE IF NOT EXISTS {LEASES} (key TEXT NOT NULL, slot INTEGER NOT NULL, holder TEXT, "
    "expires REAL NOT NULL DEFAULT 0, PRIMARY KEY (key, slot))"
)


class SharedSlots:
    """At most `size` requests in flight under `key`, across every process using `db`.

    `take(holder, ttl_s)` leases a free slot (or one whose lease expired: a killed worker's slots come
    back after `ttl_s`) and returns its number, None when all are held; `give(slot, holder)` frees it.
    """

    def __init__(self, db: Database, key: str, size: int, clock: Callable[[], float] = time.time) -> None:
        if size < 1:
            raise ValueError(f"shared slots {key!r}: need at least one slot (got {size})")
        self.db, self.key, self.size, self.clock = db, key, size, clock
        self._ready = False

    def __repr__(self) -> str:
        return f"SharedSlots({self.key!r}, size={self.size})"

    def _prepare(self) -> None:
        with self.db.transaction(lock=f"{LEASES}:create") as conn:
            conn.execute(ddl(_CREATE_LEASES, self.db.dialect))
            have = {row[0] for row in conn.execute(f"SELECT slot FROM {LEASES} WHERE key = ?", (self.key,))}
            for slot in sorted(set(range(self.size)) - have):
                conn.execute(f"INSERT INTO {LEASES} (key, slot) VALUES (?, ?)", (self.key, slot))
        self._ready = True

    def take(self, holder: str, ttl_s: float) -> int | None:
        if not self._ready:
            self._prepare()
        with self.db.transaction(lock=f"{LEASES}:{self.key}") as conn:
            now = db_now(self.db, conn, self.clock)
            row = conn.execute(
                f"SELECT slot FROM {LEASES} WHERE key = ? AND slot < ? AND (holder IS NULL OR expires < ?) "
                "ORDER BY slot LIMIT 1",
                (self.key, self.size, now),
            ).fetchone()
            if row is None:
                return None
            conn.execute(
                f"UPDATE {LEASES} SET holder = ?, expires = ? WHERE key = ? AND slot = ?",
                (holder, now + ttl_s, self.key, row[0]),
            )
            return int(row[0])

    def give(self, slot: int, holder: str) -> None:
        with self.db.transaction() as conn:
            conn.execute(
                f"UPDATE {LEASES} SET holder = NULL, expires = 0 WHERE key = ? AND slot = ? AND holder = ?",
                (self.key, slot, holder),
            )

    def held(self) -> int:
        """Slots leased now (expired leases not counted)."""
        if not self._ready:
            self._prepare()
        with self.db.transaction() as conn:
            now = db_now(self.db, conn, self.clock)
            [count] = conn.execute(
                f"SELECT COUNT(*) FROM {LEASES} WHERE key = ? AND slot < ? AND holder IS NOT NULL "
                "AND expires >= ?",
                (self.key, self.size, now),
            ).fetchone()
        return int(count)
