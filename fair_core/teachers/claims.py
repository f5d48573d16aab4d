"""Cross-process claims on teacher requests, in the reply cache's database: one request is sent by one caller.

Before a request is sent its caller inserts a `claims` row (request key, owner token, host, pid, time) in
one write transaction (SQLite's file write lock; on Postgres an advisory lock on the key). A caller that
finds another live owner's claim waits for that reply to appear in
the cache instead of sending; a claim whose owner process is dead (same host) or that was not renewed for
`LEASE_S` (a dead process on another host, a hung one) is taken over: a live caller renews its claims every
`RENEW_EVERY_S` (engine.py). The claim goes away with the reply (same transaction) or when the request
ends without one. In-process de-duplication (one send per key per engine call) comes first; each engine
call has its own owner token, so two calls of one process never send the same request at once either.
"""

from __future__ import annotations

import asyncio
import os
import socket
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from fair_core.teachers.base import ChatResponse
from fair_core.teachers.db import Database, upsert

CLAIMS_SCHEMA = """CREATE TABLE IF NOT EXISTS claims (
    key TEXT PRIMARY KEY, owner TEXT NOT NULL, host TEXT NOT NULL, pid INTEGER NOT NULL,
    claimed_at REAL NOT NULL)"""
#: A budget hold older than this is ignored even when its owner looks alive (a hung or far-away process).
STALE_AFTER_S = 1800.0
#: A claim not renewed for this long is taken over even when its owner looks alive (another host's).
LEASE_S = 300.0
#: How often a caller renews the claims it holds (well inside the lease).
RENEW_EVERY_S = 60.0
HOST = socket.gethostname()

ClaimState = Literal["mine", "cached", "held"]


@dataclass(frozen=True)
class Owner:
    """Who holds a claim: a token per engine call, this host and process."""

    token: str = field(default_factory=lambda: uuid.uuid4().hex)
    host: str = HOST
    pid: int = field(default_factory=os.getpid)


def owner_alive(host: str, pid: int) -> bool:
    """Whether a claim's owner process may still run (another host's: assumed so, until stale)."""
    if host != HOST:
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@dataclass(frozen=True)
class Holder:
    """Another caller's live claim on a request."""

    host: str
    pid: int
    claimed_at: float


class Claims:
    """The `claims` table in a cache's Database (its `responses` table is the reply cache)."""

    def __init__(
        self, database: Database, lease_s: float = LEASE_S, clock: Callable[[], float] = time.time
    ) -> None:
        self._db, self.lease_s, self._clock = database, lease_s, clock
        columns = ("key", "owner", "host", "pid", "claimed_at")
        self._upsert = upsert("claims", columns, "key", database.dialect)

    def _taken_over(self, row: tuple[str, str, int, float] | None, owner: Owner) -> bool:
        if row is None or row[0] == owner.token:
            return True
        _, host, pid, claimed_at = row
        return not owner_alive(host, pid) or self._clock() - claimed_at > self.lease_s

    def claim(self, key: str, owner: Owner, refresh: bool = False) -> ClaimState:
        """Claim `key` for `owner` (one write transaction): `mine` (send it), `cached` (a reply is there;
        not with `refresh`) or `held` (another live caller sends it). Raises one of the database's
        `errors` when the claim cannot be written (then nothing must be sent)."""
        with self._db.transaction(lock=f"claim:{key}") as conn:
            if not refresh and conn.execute("SELECT 1 FROM responses WHERE key = ?", (key,)).fetchone():
                return "cached"
            row = conn.execute(
                "SELECT owner, host, pid, claimed_at FROM claims WHERE key = ?", (key,)
            ).fetchone()
            if not self._taken_over(row, owner):
                return "held"
            conn.execute(self._upsert, (key, owner.token, owner.host, owner.pid, self._clock()))
            return "mine"

    def holder(self, key: str, owner: Owner) -> Holder | None:
        """The live claim of another caller on `key`, if any (a read)."""
        rows = self._db.query("SELECT owner, host, pid, claimed_at FROM claims WHERE key = ?", (key,))
        row = rows[0] if rows else None
        if row is None or self._taken_over(row, owner):
            return None
        return Holder(row[1], int(row[2]), float(row[3]))

    def reply_since(self, key: str, since: float | None) -> ChatResponse | None:
        """The cached reply of `key` (stored at or after `since`, when given)."""
        rows = self._db.query("SELECT response, created_at FROM responses WHERE key = ?", (key,))
        row = rows[0] if rows else None
        if row is None or (since is not None and row[1] < since):
            return None
        return ChatResponse.from_json(row[0])

    def release(self, key: str, owner: Owner) -> None:
        """Drop `owner`'s claim on `key` (best effort: a claim left behind is taken over later)."""
        try:
            with self._db.transaction() as conn:
                conn.execute("DELETE FROM claims WHERE key = ? AND owner = ?", (key, owner.token))
        except self._db.errors:
            pass

    def renew(self, owner: Owner) -> None:
        """Renew every claim `owner` holds: its lease starts again (best effort, like `release`)."""
        try:
            with self._db.transaction() as conn:
                conn.execute("UPDATE claims SET claimed_at = ? WHERE owner = ?", (self._clock(), owner.token))
        except self._db.errors:
            pass

    def count(self) -> int:
        return int(self._db.query("SELECT COUNT(*) FROM claims")[0][0])


async def wait_for_holder(
    claims: Claims,
    key: str,
    owner: Owner,
    since: float | None = None,
    on_wait: Callable[[Holder], None] | None = None,
) -> ChatResponse | None:
    """While another live caller holds the claim on `key`, wait for its reply (stored at or after `since`
    when given); None once the claim is gone without one (or dead, or stale): claim it again then."""
    delay = 0.05
    holder = await asyncio.to_thread(claims.holder, key, owner)
    if holder is not None and on_wait is not None:
        on_wait(holder)
    while holder is not None:
        await asyncio.sleep(delay)
        delay = min(1.0, delay * 2)
        reply = await asyncio.to_thread(claims.reply_since, key, since)
        if reply is not None:
            return reply
        holder = await asyncio.to_thread(claims.holder, key, owner)
    return await asyncio.to_thread(claims.reply_since, key, since)
