"""Per-thread SQLite connections (WAL, busy timeout, synchronous=NORMAL) shared by the cache and sidecar."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from fair_core.teachers.per_thread import PerThread


class ConnectionPool:
    """One connection per thread to the database at `path`, safe across processes (WAL, busy timeout).

    `label` names the database in errors (e.g. "response cache"). `close` closes every thread's connection;
    the next use opens a new one. `max_page_count` caps the file's size in pages (a full-disk test knob).
    """

    def __init__(
        self,
        path: str | Path,
        busy_timeout_s: float = 30.0,
        label: str = "database",
        max_page_count: int | None = None,
    ) -> None:
        self.path = Path(path).expanduser()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.busy_timeout_s, self.label, self.max_page_count = busy_timeout_s, label, max_page_count
        self._connections: PerThread[sqlite3.Connection] = PerThread(self._open)

    def _open(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, timeout=self.busy_timeout_s, check_same_thread=False)
        conn.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout_s * 1000)}")
        mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            conn.close()
            raise RuntimeError(f"{self.label} {self.path}: cannot switch SQLite to WAL mode (got {mode})")
        conn.execute("PRAGMA synchronous = NORMAL")
        if self.max_page_count is not None:
            conn.execute(f"PRAGMA max_page_count = {int(self.max_page_count)}")
        return conn

    def connect(self) -> sqlite3.Connection:
        """This thread's connection (opened on first use)."""
        return self._connections.get()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """This thread's connection in a transaction: committed on success, rolled back on error."""
        conn = self.connect()
        with conn:
            yield conn

    def close(self) -> None:
        """Close every thread's connection (reopened on next use)."""
        self._connections.close()
