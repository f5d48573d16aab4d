"""The reply cache's integrity check at open: corrupt, emptied or replaced caches are named and kept aside.

The cache file holds every teacher reply *and* the budget ledger (`spend`), so it is never recreated
silently. A marker beside it (`<cache>.id`: its id and creation time) and the same id in the `meta` table
inside tell a fresh cache from one that was truncated, deleted or swapped: marker present but the file
missing, empty or holding another id means damage. A damaged cache (that, or `PRAGMA quick_check`
failing, or SQLite refusing the file) is moved aside to `<cache>.damaged-<UTC time>` with its marker and
`ReplyCacheDamaged` says what happened and how to recover. A brand-new cache (no file, no marker) is
created as before, marker included. `check_reply_cache` runs once per process and path.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import threading
import time
import uuid
from pathlib import Path

logger = logging.getLogger(__name__)
_META = "CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL)"
_checked: set[Path] = set()
_lock = threading.Lock()


class ReplyCacheDamaged(RuntimeError):
    """The reply cache file is corrupt, emptied or replaced: it was moved aside; nothing was sent."""


def marker_path(path: Path) -> Path:
    return path.with_name(path.name + ".id")


def _read_marker(marker: Path) -> dict[str, str] | None:
    try:
        data = json.loads(marker.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and isinstance(data.get("id"), str) else None


def _write_marker(marker: Path, cache_id: str, created: str) -> None:
    """Write the marker atomically; best effort (a full disk must not stop a run that writes nothing)."""
    tmp = marker.with_name(f"{marker.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(json.dumps({"id": cache_id, "created": created}) + "\n")
        os.replace(tmp, marker)
    except OSError as err:
        logger.warning(
            "reply cache marker %s could not be written (%s); it is written on a later open", marker, err
        )
        tmp.unlink(missing_ok=True)


def _stamp() -> str:
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())


def _set_aside(path: Path, cause: str, marker: dict[str, str] | None) -> ReplyCacheDamaged:
    """Move the cache (and its WAL, shared-memory and marker files) aside; the error to raise."""
    aside = path.with_name(f"{path.name}.damaged-{_stamp()}")
    moved = []
    for suffix in ("", "-wal", "-shm", ".id"):
        source = path.with_name(path.name + suffix)
        if source.exists():
            os.replace(source, aside.with_name(aside.name + suffix))
            moved.append(suffix)
    where = f"moved aside to {aside}" if "" in moved else f"its marker was moved aside to {aside}.id"
    since = f" (cache {marker['id']}, created {marker.get('created', '?')})" if marker else ""
    return ReplyCacheDamaged(
        f"reply cache {path}{since} is damaged: {cause}; {where} and nothing was sent. To keep its replies "
        f"and the spend it recorded, restore a backup of it to {path} and rerun; or rerun as is to start a "
        "fresh cache (every reply is asked again and the spend recorded there no longer counts against "
        "run.budget_usd)"
    )


def _damage(err: sqlite3.DatabaseError) -> bool:
    """Whether SQLite's error means a broken file (not a lock, a busy database or a permission)."""
    text = str(err).lower()
    return any(s in text for s in ("malformed", "not a database", "corrupt", "file is encrypted"))


def _open_and_stamp(path: Path, marker: dict[str, str] | None) -> str:
    """Check the database and return its cache id (a new one is written if it has none); `_Damaged` when
    the file is broken or is not the cache its marker names."""
    conn = sqlite3.connect(path, timeout=30.0)
    try:
        rows = [str(r[0]) for r in conn.execute("PRAGMA quick_check").fetchall()]
        if rows != ["ok"]:
            raise _Damaged(f"integrity check failed ({'; '.join(rows[:3])})")
        has_meta = conn.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta'"
        ).fetchone()
        found = conn.execute("SELECT value FROM meta WHERE name = 'id'").fetchone() if has_meta else None
        if marker is not None and (found is None or found[0] != marker["id"]):
            held = f"cache {found[0]}" if found else "no cache id"
            raise _Damaged(f"the file holds {held}, not the cache its marker names (it was replaced)")
        if found is not None:
            return str(found[0])
        with conn:
            conn.execute(_META)
            conn.execute("INSERT OR IGNORE INTO meta VALUES ('id', ?)", (uuid.uuid4().hex,))
            conn.execute("INSERT OR IGNORE INTO meta VALUES ('created', ?)", (_stamp(),))
        return str(conn.execute("SELECT value FROM meta WHERE name = 'id'").fetchone()[0])
    except sqlite3.DatabaseError as err:
        if _damage(err):
            raise _Damaged(f"SQLite: {err}") from None
        raise
    finally:
        conn.close()


class _Damaged(Exception):
    pass


def check_reply_cache(path: str | Path) -> None:
    """Raise `ReplyCacheDamaged` (after moving the file aside) when the reply cache at `path` is corrupt,
    emptied, deleted or replaced; create a brand-new one's marker. Cheap after the first call per path."""
    path = Path(path).expanduser().absolute()
    with _lock:
        if path in _checked:
            return
        marker_file = marker_path(path)
        marker = _read_marker(marker_file)
        wal = path.with_name(path.name + "-wal")
        empty = not path.exists() or (path.stat().st_size == 0 and not (wal.exists() and wal.stat().st_size))
        if empty and marker is not None:
            what = "it is missing" if not path.exists() else "it is empty (0 bytes)"
            raise _set_aside(path, f"{what}, but its marker {marker_file} says it existed", marker)
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            cache_id = _open_and_stamp(path, marker)
        except _Damaged as damaged:
            raise _set_aside(path, str(damaged), marker) from None
        if marker is None:
            _write_marker(marker_file, cache_id, _stamp())
        _checked.add(path)


def forget_checked(path: str | Path | None = None) -> None:
    """Check `path` (every path: None) again on its next open (after a restore or in tests)."""
    with _lock:
        if path is None:
            _checked.clear()
        else:
            _checked.discard(Path(path).expanduser().absolute())
