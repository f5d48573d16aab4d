"""One database connection per thread, opened on first use and closed all at once (SQLite and psycopg)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, Generic, TypeVar

C = TypeVar("C")


class PerThread(Generic[C]):
    """This thread's connection from `opener` (a new one when `is_closed` says it died); `close()` closes
    every thread's, and the next use opens a new one."""

    def __init__(self, opener: Callable[[], C], is_closed: Callable[[C], bool] = lambda conn: False) -> None:
        self._opener, self._is_closed = opener, is_closed
        self._local = threading.local()
        self._lock = threading.Lock()
        self._connections: list[Any] = []

    def get(self) -> C:
        conn: C | None = getattr(self._local, "conn", None)
        if conn is None or self._is_closed(conn):
            conn = self._opener()
            self._local.conn = conn
            with self._lock:
                self._connections.append(conn)
        return conn

    def close(self) -> None:
        with self._lock:
            connections, self._connections = self._connections, []
            self._local = threading.local()
        for conn in connections:
            conn.close()
