"""Teacher response cache: SQLite (WAL) keyed by `ChatRequest.key()`, one committed row per reply."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from fair_core.teachers.base import ChatRequest, ChatResponse
from fair_core.teachers.sqlite import ConnectionPool

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


class ResponseCache:
    """Replies by request key; safe across threads (a connection each) and processes (WAL, busy timeout).

    Every `put` is its own committed transaction, so a crash loses only the requests still in flight.
    Requests carry no API key, so none is ever written.
    """

    def __init__(self, path: str | Path, busy_timeout_s: float = 30.0) -> None:
        self._pool = ConnectionPool(path, busy_timeout_s, "response cache")
        self.path, self.busy_timeout_s = self._pool.path, busy_timeout_s
        self._lock = threading.Lock()
        self._counts = {"hits": 0, "misses": 0, "puts": 0, "skipped": 0}
        with self._pool.transaction() as conn:
            conn.execute(_SCHEMA)

    def __repr__(self) -> str:
        return f"ResponseCache({str(self.path)!r})"

    def _count(self, name: str, n: int = 1) -> None:
        with self._lock:
            self._counts[name] += n

    def get(self, key: str) -> ChatResponse | None:
        return self.get_many([key]).get(key)

    def get_many(self, keys: Iterable[str]) -> dict[str, ChatResponse]:
        """Cached replies of the keys found (missing keys are absent from the result)."""
        wanted = list(dict.fromkeys(keys))
        found: dict[str, ChatResponse] = {}
        conn = self._pool.connect()
        for start in range(0, len(wanted), _CHUNK):
            chunk = wanted[start : start + _CHUNK]
            marks = ",".join("?" * len(chunk))
            rows = conn.execute(f"SELECT key, response FROM responses WHERE key IN ({marks})", chunk)
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
        row = (
            request.key(),
            request.provider,
            request.model,
            response.status,
            request.to_json(),
            response.to_json(),
            time.time(),
        )
        with self._pool.transaction() as conn:
            conn.execute("INSERT OR REPLACE INTO responses VALUES (?, ?, ?, ?, ?, ?, ?)", row)
        self._count("puts")
        return True

    def __len__(self) -> int:
        return int(self._pool.connect().execute("SELECT COUNT(*) FROM responses").fetchone()[0])

    def journal_mode(self) -> str:
        return str(self._pool.connect().execute("PRAGMA journal_mode").fetchone()[0])

    def stats(self) -> dict[str, Any]:
        """Rows per provider/model and status, and this object's hits, misses and puts."""
        conn = self._pool.connect()
        by_model: dict[str, int] = {}
        by_status: dict[str, int] = {}
        query = "SELECT provider, model, status, COUNT(*) FROM responses GROUP BY provider, model, status"
        for provider, model, status, n in conn.execute(query):
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
        self._pool.close()

    def __enter__(self) -> ResponseCache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
