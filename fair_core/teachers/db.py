"""The reply cache's database behind one small interface: a SQLite file (default) or PostgreSQL (`cache.url`).

SQL is written once with `?` placeholders; `Database.sql` turns it into the dialect's (`%s` on Postgres),
`upsert` writes `INSERT OR REPLACE` / `INSERT ... ON CONFLICT DO UPDATE`, `ddl` the column types. A
`transaction(lock=...)` serialises writers across processes: SQLite's `BEGIN IMMEDIATE` (one writer per
file), Postgres' `pg_advisory_xact_lock` on the lock's name. A Postgres URL's password never appears in
`location`, reprs or errors (`redact`). Use: `open_database("postgresql://fair@127.0.0.1:5432/fair")`.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any, Literal, Protocol
from urllib.parse import urlsplit, urlunsplit

from fair_core.teachers.per_thread import PerThread
from fair_core.teachers.sqlite import ConnectionPool

Dialect = Literal["sqlite", "postgres"]
SCHEMES = ("postgresql://", "postgres://")


def is_url(where: str | Path) -> bool:
    """Whether `where` names a PostgreSQL database (else it is a SQLite file path)."""
    return isinstance(where, str) and where.startswith(SCHEMES)


def redact(url: str) -> str:
    """`url` without its password (`postgresql://user:***@host/db`); other text unchanged."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{parts.username or ''}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def _scrub(text: str, url: str) -> str:
    """`text` with the URL's password (if any) replaced."""
    password = urlsplit(url).password
    return text.replace(password, "***") if password else text


class Cursor(Protocol):
    def fetchone(self) -> Any: ...
    def fetchall(self) -> list[Any]: ...
    def __iter__(self) -> Iterator[Any]: ...


class Connection(Protocol):
    def execute(self, sql: str, args: Sequence[Any] = ...) -> Cursor: ...


class Database(Protocol):
    """What the cache, claims, spend and batch-job tables need of their database."""

    dialect: Dialect
    location: str  # the absolute file path or the redacted URL: names the database in errors and logs
    label: str
    errors: tuple[type[Exception], ...]  # what a failed statement raises

    def query(self, sql: str, args: Sequence[Any] = ()) -> list[Any]: ...
    def transaction(self, lock: str | None = None) -> AbstractContextManager[Connection]: ...
    def close(self) -> None: ...


def _marks(sql: str, dialect: Dialect) -> str:
    return sql.replace("?", "%s") if dialect == "postgres" else sql


def ddl(statement: str, dialect: Dialect) -> str:
    """A CREATE statement in the dialect's types (REAL is single precision on Postgres)."""
    return re.sub(r"\bREAL\b", "DOUBLE PRECISION", statement) if dialect == "postgres" else statement


def upsert(table: str, columns: Sequence[str], key: str, dialect: Dialect) -> str:
    """Insert a whole row, replacing the one with the same `key`."""
    marks = ", ".join("?" * len(columns))
    if dialect == "sqlite":
        return f"INSERT OR REPLACE INTO {table} ({', '.join(columns)}) VALUES ({marks})"
    sets = ", ".join(f"{c} = EXCLUDED.{c}" for c in columns if c != key)
    head = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})"
    return f"{head} ON CONFLICT ({key}) DO UPDATE SET {sets}"


class SqliteDatabase:
    """A SQLite file through `ConnectionPool` (a connection per thread, WAL, busy timeout)."""

    dialect: Dialect = "sqlite"
    errors: tuple[type[Exception], ...] = (sqlite3.Error,)

    def __init__(self, pool: ConnectionPool) -> None:
        self.pool, self.label = pool, pool.label
        self.path = pool.path
        self.location = str(pool.path.absolute())

    def __repr__(self) -> str:
        return f"SqliteDatabase({self.location!r})"

    def query(self, sql: str, args: Sequence[Any] = ()) -> list[Any]:
        return self.pool.connect().execute(sql, tuple(args)).fetchall()

    @contextmanager
    def transaction(self, lock: str | None = None) -> Iterator[Connection]:
        """Committed on success, rolled back on error; with `lock`: the file's write lock from the start."""
        if lock is None:
            with self.pool.transaction() as conn:
                yield conn
            return
        conn = self.pool.connect()
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.rollback()
            raise
        conn.commit()

    def close(self) -> None:
        self.pool.close()


class _PgConnection:
    """A psycopg connection taking `?` placeholders."""

    def __init__(self, conn: Any) -> None:
        self._conn = conn

    def execute(self, sql: str, args: Sequence[Any] = ()) -> Cursor:
        return self._conn.execute(_marks(sql, "postgres"), tuple(args))  # type: ignore[no-any-return]


class PostgresDatabase:
    """PostgreSQL through psycopg 3: one autocommit connection per thread, explicit transactions."""

    dialect: Dialect = "postgres"

    def __init__(self, url: str, label: str = "database", connect_timeout_s: float = 30.0) -> None:
        try:
            import psycopg
        except ImportError:
            raise RuntimeError(
                f"{label} {redact(url)}: PostgreSQL needs psycopg: pip install 'fair-distill[postgres]'"
            ) from None
        self._psycopg, self._url, self.label = psycopg, url, label
        self.location = redact(url)
        self.errors = (psycopg.Error,)
        self.connect_timeout_s = connect_timeout_s
        self._connections: PerThread[Any] = PerThread(self._open, lambda conn: bool(conn.closed))

    def __repr__(self) -> str:
        return f"PostgresDatabase({self.location!r})"

    def _open(self) -> Any:
        try:
            return self._psycopg.connect(
                self._url, autocommit=True, connect_timeout=max(1, int(self.connect_timeout_s))
            )
        except self._psycopg.Error as err:
            text = str(err).strip()
            first = _scrub(text.splitlines()[0] if text else type(err).__name__, self._url)
            raise self._psycopg.OperationalError(f"{self.label} {self.location}: {first}") from None

    def _connect(self) -> _PgConnection:
        return _PgConnection(self._connections.get())

    def query(self, sql: str, args: Sequence[Any] = ()) -> list[Any]:
        return self._connect().execute(sql, args).fetchall()

    @contextmanager
    def transaction(self, lock: str | None = None) -> Iterator[Connection]:
        """Committed on success, rolled back on error; with `lock`: an advisory lock on its name first,
        held until the end of the transaction (every process taking the same lock waits for it)."""
        conn = self._connect()
        with conn._conn.transaction():
            if lock is not None:
                conn.execute("SELECT pg_advisory_xact_lock(hashtext(?))", (lock,))
            yield conn

    def close(self) -> None:
        self._connections.close()


def open_database(
    where: str | Path | Database,
    label: str = "database",
    busy_timeout_s: float = 30.0,
    max_page_count: int | None = None,
) -> Database:
    """The database at `where`: a `postgresql://` URL, a SQLite file path, or an open `Database` (shared)."""
    if isinstance(where, SqliteDatabase | PostgresDatabase):
        return where
    if is_url(where):
        return PostgresDatabase(str(where), label, busy_timeout_s)
    return SqliteDatabase(ConnectionPool(Path(str(where)), busy_timeout_s, label, max_page_count))


def database_errors() -> tuple[type[Exception], ...]:
    """Every error a cache statement may raise (SQLite's, and psycopg's when it is installed)."""
    try:
        import psycopg
    except ImportError:
        return (sqlite3.Error,)
    return (sqlite3.Error, psycopg.Error)
