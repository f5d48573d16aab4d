"""Teacher response cache keyed by `ChatRequest.key()`, one committed row per reply: SQLite or PostgreSQL.

A reply is stored with its spend row and the release of its claim in one transaction (`store`); a reply
that cannot be stored raises `ReplyStoreError`, which stops sending (nothing is sent that cannot be kept).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from fair_core.teachers.base import ChatRequest, ChatResponse
from fair_core.teachers.claims import CLAIMS_SCHEMA, Claims, Owner
from fair_core.teachers.db import Database, ddl, is_url, open_database, upsert
from fair_core.teachers.integrity import check_reply_cache
from fair_core.teachers.sidecar import SPEND_SCHEMA, SpendRow, spend_statements

#: Only these replies are kept; errors are asked again next time.
CACHEABLE = frozenset({"ok", "refused"})
_CHUNK = 500  # keys per SELECT (below SQLite's bound-variable limit)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS responses (
    key TEXT PRIMARY KEY,
    provider TEXT NOT NULL,
    model TEXT NOT NULL,
    status TEXT NOT NULL,
    request TEXT NOT NULL,
    response TEXT NOT NULL,
    created_at REAL NOT NULL
)
"""


class ReplyStoreError(RuntimeError):
    """A teacher reply (or its spend, or the claim before sending) could not be written to the cache file:
    sending stopped; not retried (a retry would pay again for what could not be kept)."""

    def __init__(self, path: Path | str, cause: str, lost: int = 0) -> None:
        self.path, self.cause, self.lost = path, cause, lost
        unkept = f" ({lost} paid {'reply' if lost == 1 else 'replies'} could not be kept)" if lost else ""
        super().__init__(
            f"reply cache {path}: could not store a teacher reply ({cause}), so nothing more was sent"
            f"{unkept}; free space and rerun: every stored reply is reused"
        )


_COLUMNS = ("key", "provider", "model", "status", "request", "response", "created_at")


def _row(request: ChatRequest, response: ChatResponse) -> tuple[object, ...]:
    """The `responses` row of a reply."""
    return (
        request.key(),
        request.provider,
        request.model,
        response.status,
        request.to_json(),
        response.to_json(),
        time.time(),
    )


class ResponseCache:
    """Replies by request key; safe across threads (a connection each) and processes (WAL and busy timeout
    on SQLite; Postgres' own transactions).

    `where`: a SQLite file path or a `postgresql://` URL (`cache.url`). Every `put` is its own committed
    transaction, so a crash loses only the requests still in flight. Requests carry no API key, so none is
    ever written. Opening a file runs `check_reply_cache` (once per process and path). `max_page_count`
    caps a file's size in pages (a test knob to make the disk "full"). `path` is the file (SQLite) or the
    URL without its password; `location` is that as text, the same for every opener of the database.
    """

    def __init__(
        self, where: str | Path, busy_timeout_s: float = 30.0, *, max_page_count: int | None = None
    ) -> None:
        if not is_url(where):
            check_reply_cache(where)
        self.database: Database = open_database(where, "response cache", busy_timeout_s, max_page_count)
        self.location = self.database.location
        self._pool = getattr(self.database, "pool", None)  # the SQLite ConnectionPool (None on Postgres)
        self.path: Path | str = getattr(self.database, "path", self.location)
        self.busy_timeout_s = busy_timeout_s
        self._insert = upsert("responses", _COLUMNS, "key", self.database.dialect)
        self._lock = threading.Lock()
        self._counts = {"hits": 0, "misses": 0, "puts": 0, "skipped": 0}
        self.claims = Claims(self.database)
        with self.database.transaction(lock="fair-schema") as conn:
            for statement in (_SCHEMA, CLAIMS_SCHEMA, *SPEND_SCHEMA):
                conn.execute(ddl(statement, self.database.dialect))

    def __repr__(self) -> str:
        return f"ResponseCache({self.location!r})"

    def _count(self, name: str, n: int = 1) -> None:
        with self._lock:
            self._counts[name] += n

    def get(self, key: str) -> ChatResponse | None:
        return self.get_many([key]).get(key)

    def get_many(self, keys: Iterable[str]) -> dict[str, ChatResponse]:
        """Cached replies of the keys found (missing keys are absent from the result)."""
        wanted = list(dict.fromkeys(keys))
        found: dict[str, ChatResponse] = {}
        for start in range(0, len(wanted), _CHUNK):
            chunk = wanted[start : start + _CHUNK]
            marks = ",".join("?" * len(chunk))
            rows = self.database.query(f"SELECT key, response FROM responses WHERE key IN ({marks})", chunk)
            for key, response in rows:
                found[key] = ChatResponse.from_json(response)
        self._count("hits", len(found))
        self._count("misses", len(wanted) - len(found))
        return found

    def put(self, request: ChatRequest, response: ChatResponse) -> bool:
        """Store (or replace) the reply to `request`; False when its status is not cacheable."""
        if response.status not in CACHEABLE:
            self._count("skipped")
            return False
        with self.database.transaction() as conn:
            conn.execute(self._insert, _row(request, response))
        self._count("puts")
        return True

    def store(
        self,
        request: ChatRequest,
        response: ChatResponse,
        spend: SpendRow | None = None,
        owner: Owner | None = None,
    ) -> None:
        """One transaction: the reply (when cacheable), its `spend` row and the end of its budget
        reservation, the release of `owner`'s claim. Raises `ReplyStoreError` (nothing of it written)
        when the database cannot take it."""
        key = request.key()
        try:
            postgres = owner is not None and self.database.dialect == "postgres"
            with self.database.transaction(lock=f"claim:{key}" if postgres else None) as conn:
                if response.status in CACHEABLE:
                    conn.execute(self._insert, _row(request, response))
                if spend is not None:
                    spend_statements(conn, spend)
                if owner is not None:
                    conn.execute("DELETE FROM claims WHERE key = ? AND owner = ?", (key, owner.token))
        except self.database.errors as err:
            raise ReplyStoreError(self.path, str(err)) from None
        self._count("puts" if response.status in CACHEABLE else "skipped")

    def __len__(self) -> int:
        return int(self.database.query("SELECT COUNT(*) FROM responses")[0][0])

    def journal_mode(self) -> str:
        """SQLite's journal mode (`wal`); `postgres` on PostgreSQL."""
        if self.database.dialect == "postgres":
            return "postgres"
        return str(self.database.query("PRAGMA journal_mode")[0][0])

    def stats(self) -> dict[str, Any]:
        """Rows per provider/model and status, and this object's hits, misses and puts."""
        by_model: dict[str, int] = {}
        by_status: dict[str, int] = {}
        query = "SELECT provider, model, status, COUNT(*) FROM responses GROUP BY provider, model, status"
        for provider, model, status, n in self.database.query(query):
            by_model[f"{provider}/{model}"] = by_model.get(f"{provider}/{model}", 0) + n
            by_status[status] = by_status.get(status, 0) + n
        with self._lock:
            counts = dict(self._counts)
        return {
            "path": str(self.path),
            "entries": sum(by_model.values()),
            "by_model": by_model,
            "by_status": by_status,
            **counts,
        }

    def close(self) -> None:
        """Close every thread's connection (the cache reopens on next use)."""
        self.database.close()

    def __enter__(self) -> ResponseCache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
