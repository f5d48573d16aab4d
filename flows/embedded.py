"""The CLI's own Prefect server for one run (instead of Prefect's ephemeral one, which shares the terminal's
process group and dies first on Ctrl-C): its own session, stopped after the flow runs are marked, killed by
the kernel if `fair` dies (Linux), and ended at the next start if a SIGKILL left it behind (pidfiles)."""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

#: What tells our server apart from any other process (checked in /proc before an orphan is ended).
SERVER_APP = "prefect.server.api.server:create_app"
PR_SET_PDEATHSIG = 1


def _start_ticks(pid: int) -> int | None:
    """The process's start time in clock ticks since boot (Linux), None if it does not exist."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(stat.rsplit(")", 1)[1].split()[19])


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def _alive(pid: int, ticks: int | None) -> bool:
    """Whether `pid` is the same process as recorded (a reused pid has another start time)."""
    now = _start_ticks(pid)
    if now is None:
        return False
    return ticks is None or now == ticks


def servers_dir() -> Path:
    """Where the pidfiles of the servers `fair` started live: beside the database, in PREFECT_HOME."""
    from prefect.settings import PREFECT_HOME

    return Path(PREFECT_HOME.value()).expanduser() / "fair-servers"


def _end(pid: int, grace_s: float = 10.0) -> None:
    """SIGTERM, then SIGKILL after `grace_s` (an orphan: not our child, nothing to reap)."""
    try:
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + grace_s
        while _start_ticks(pid) is not None and time.monotonic() < deadline:
            time.sleep(0.1)
        if _start_ticks(pid) is not None:
            os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def reap_orphans(directory: Path | None = None) -> list[int]:
    """End every server whose `fair` process is gone (a SIGKILL leaves it behind); returns their pids."""
    directory = directory or servers_dir()
    ended = []
    for pidfile in sorted(directory.glob("*.json")) if directory.is_dir() else []:
        try:
            info = json.loads(pidfile.read_text())
        except (OSError, ValueError):
            pidfile.unlink(missing_ok=True)
            continue
        if _alive(info.get("owner_pid", 0), info.get("owner_ticks")):
            continue  # another run's server, in use
        pid = int(info.get("server_pid", 0))
        if pid and _alive(pid, info.get("server_ticks")) and SERVER_APP in _cmdline(pid):
            _end(pid)
            ended.append(pid)
        pidfile.unlink(missing_ok=True)
        pidfile.with_suffix(".log").unlink(missing_ok=True)
    return ended


def stop_child(process: subprocess.Popen[Any], grace_s: float) -> None:
    """SIGTERM a server we started, then SIGKILL it after `grace_s`; reaped either way."""
    process.terminate()
    try:
        process.wait(timeout=grace_s)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def api_healthy(api_url: str, timeout_s: float = 2.0) -> bool:
    try:
        with urllib.request.urlopen(f"{api_url.rstrip('/')}/health", timeout=timeout_s) as reply:
            return bool(reply.status == 200)
    except OSError:
        return False


def die_with_parent(parent: int) -> Callable[[], None]:
    """preexec_fn: the kernel sends SIGTERM to the server when the thread that forked it ends."""

    def preexec() -> None:
        if sys.platform.startswith("linux"):
            ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
        if os.getppid() != parent:  # the parent died before prctl took effect
            os._exit(1)

    return preexec


def server_command(port: int) -> list[str]:
    """The command of Prefect's ephemeral server (API only, no UI nor services), on `port`."""
    import prefect

    return [
        sys.executable, "-m", "uvicorn", "--app-dir", str(Path(prefect.__file__).parent.parent),
        "--factory", SERVER_APP, "--host", "127.0.0.1", "--port", str(port),
        "--log-level", "error", "--lifespan", "on",
    ]  # fmt: skip


def _drain_prefect_workers(timeout_s: float = 5.0) -> None:
    """Deliver the logs and events still queued while the server is up (no 'Error logging to API')."""
    from prefect.events.worker import EventsWorker
    from prefect.logging.handlers import APILogWorker

    for worker in (APILogWorker, EventsWorker):
        with contextlib.suppress(Exception):  # best effort on the way out
            worker.drain_all(timeout=timeout_s)


@contextmanager
def own_server(timeout_s: float = 90.0) -> Iterator[str]:
    """A Prefect API server for this process (database in PREFECT_HOME, like the ephemeral mode), with
    PREFECT_API_URL pointing at it for the block; stopped after the block, whatever ended it."""
    from prefect.logging import get_logger
    from prefect.settings import PREFECT_API_URL, get_current_settings, temporary_settings

    directory = servers_dir()
    directory.mkdir(parents=True, exist_ok=True)
    reap_orphans(directory)
    port = free_port()
    api_url = f"http://127.0.0.1:{port}/api"
    env: dict[str, Any] = {
        **os.environ,
        **get_current_settings().to_environment_variables(exclude_unset=True),
        "PREFECT_UI_ENABLED": "0",
        "PREFECT__SERVER_EPHEMERAL": "1",
        "PREFECT__SERVER_FINAL": "1",
    }
    env.pop("PREFECT_API_URL", None)
    pidfile = directory / f"{os.getpid()}.json"
    log_path = pidfile.with_suffix(".log")
    logger = get_logger()  # "prefect", with the ephemeral mode's lines (bench/prefect_overhead.py reads them)
    logger.info("Starting temporary server on http://127.0.0.1:%d", port)
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            server_command(port),
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # the terminal's Ctrl-C does not reach it: we stop it after the flow
            preexec_fn=die_with_parent(os.getpid()),  # forked from the main thread
        )
    record = {
        "owner_pid": os.getpid(),
        "owner_ticks": _start_ticks(os.getpid()),
        "server_pid": process.pid,
        "server_ticks": _start_ticks(process.pid),
        "api_url": api_url,
    }
    pidfile.write_text(json.dumps(record))
    before = os.environ.get("PREFECT_API_URL")
    try:
        deadline = time.monotonic() + timeout_s
        while not api_healthy(api_url, timeout_s=1.0):
            if process.poll() is not None:
                tail = log_path.read_text(errors="replace")[-2000:]
                raise RuntimeError(f"the Prefect server exited with code {process.returncode}:\n{tail}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"the Prefect server was not up after {timeout_s:.0f} s (log: {log_path})")
            time.sleep(0.1)
        os.environ["PREFECT_API_URL"] = api_url  # for subprocesses (training launch, workers)
        with temporary_settings(updates={PREFECT_API_URL: api_url}):
            try:
                yield api_url
            finally:
                _drain_prefect_workers()
    finally:
        if before is None:
            os.environ.pop("PREFECT_API_URL", None)
        else:
            os.environ["PREFECT_API_URL"] = before
        logger.info("Stopping temporary server on http://127.0.0.1:%d", port)
        stop_child(process, grace_s=10)
        pidfile.unlink(missing_ok=True)
        log_path.unlink(missing_ok=True)
