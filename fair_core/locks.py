"""One run at a time per run id and data dir: an flock on `<data_dir>/runs/<run_id>/.run.lock`."""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from fair_core.store.location import is_remote, scratch_dir

LOCK_NAME = ".run.lock"

_held: dict[Path, int] = {}  # lock files this process holds -> nesting depth (flock is per open file)
_held_guard = threading.Lock()


class RunLocked(RuntimeError):
    """Another process runs the same run id on the same data dir; the message says who and since when."""

    def __init__(self, path: Path, run_id: str, holder: dict[str, Any]) -> None:
        self.path, self.run_id, self.holder = path, run_id, holder
        super().__init__(
            f"run {run_id} is already running ({describe_holder(holder)}; lock {path}): wait for it to "
            "end, stop it, or add --wait to start when it ends"
        )


def lock_path(data_dir: str | Path, run_id: str) -> Path:
    """The lock file; for a data dir on object storage (no flock there) a local file per machine, in the
    scratch folder: workers on other machines are kept from paying twice by the shared reply cache."""
    if is_remote(data_dir):
        digest = hashlib.sha256(str(data_dir).rstrip("/").encode()).hexdigest()[:16]
        return scratch_dir("locks", digest, run_id) / LOCK_NAME
    return Path(data_dir).expanduser().resolve() / "runs" / run_id / LOCK_NAME


def describe_holder(holder: dict[str, Any]) -> str:
    """'pid 123 on host since 2026-12-02 01:50:00 UTC (fair demo)', from what the holder wrote."""
    if not holder.get("pid"):
        return "holder unknown"
    since = holder.get("started")
    when = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(since)) if since else "an unknown time"
    text = f"pid {holder['pid']} on {holder.get('host', '?')} since {when}"
    return f"{text} ({holder['command']})" if holder.get("command") else text


def read_holder(path: Path) -> dict[str, Any]:
    """What the holder of a lock file wrote (empty when unreadable or not written yet)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8") or "{}")
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _command() -> str:
    args = [Path(sys.argv[0]).name, *sys.argv[1:]] if sys.argv and sys.argv[0] else []
    return " ".join(args)[:300]


@contextmanager
def run_lock(
    data_dir: str | Path,
    run_id: str,
    wait: bool = False,
    command: str | None = None,
    on_wait: Callable[[RunLocked], None] | None = None,
) -> Iterator[Path]:
    """Hold the run's lock for the block; `RunLocked` if another process holds it (`wait`: block until it
    is free, after telling `on_wait` who holds it). The kernel drops an flock when its process dies, so a
    crashed or killed run never leaves it stuck. Re-entrant within a process (the CLI takes it before its
    server starts, the pipeline again)."""
    path = lock_path(data_dir, run_id)
    with _held_guard:
        if path in _held:
            _held[path] += 1
            nested = True
        else:
            nested = False
    if nested:
        try:
            yield path
        finally:
            with _held_guard:
                _held[path] -= 1
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            locked = RunLocked(path, run_id, read_holder(path))
            if not wait:
                raise locked from None
            if on_wait is not None:
                on_wait(locked)
            fcntl.flock(fd, fcntl.LOCK_EX)  # interruptible: Ctrl-C raises here
        holder = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "started": time.time(),
            "command": command or _command(),
            "run_id": run_id,
        }
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(holder).encode(), 0)
        with _held_guard:
            _held[path] = 1
        try:
            yield path
        finally:
            with _held_guard:
                _held.pop(path, None)
            os.ftruncate(fd, 0)  # no stale holder for a reader; the file itself stays (no unlink race)
    finally:
        os.close(fd)  # releases the flock
