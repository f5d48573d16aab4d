"""Clean shutdown of `fair run`: Ctrl-C and SIGTERM end it within seconds with its flow runs marked and no
server left; a SIGKILL leaves no server either (the kernel ends it, or the next start does)."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from flows.embedded import SERVER_APP, reap_orphans, server_command
from flows.serving import free_port
from tests.e2e.helpers import FAIR, tiny_config

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A Prefect home of these tests alone: its database and its processes are theirs."""
    return tmp_path_factory.mktemp("shutdown-prefect-home")


def _config(tmp_path: Path, model: Path) -> Path:
    return tiny_config(
        tmp_path / "slow-teachers.yaml",
        "shutdown",
        tmp_path / "data",
        model,
        training={"epochs": 1, "batch_size": 2, "grad_accum": 1, "max_length": 512},
        simulator={"enabled": True, "latency_ms": 3000},  # the teacher stage lasts a while
    )


def _start(tmp_path: Path, env: dict[str, str], model: Path) -> tuple[subprocess.Popen[bytes], Path]:
    """`fair run` in its own session (like a terminal's foreground job), once its teacher stage runs."""
    log_path = tmp_path / "fair.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [FAIR, "run", "--config", str(_config(tmp_path, model))],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    deadline = time.monotonic() + 300
    while not list((tmp_path / "data" / "runs").glob("*/round=0/mistakes.parquet")):
        assert process.poll() is None, log_path.read_text()[-3000:]
        assert time.monotonic() < deadline, "the teacher stage never started"
        time.sleep(0.2)
    time.sleep(1.0)  # teacher requests in flight
    return process, log_path


def _processes_with(home: Path) -> list[str]:
    """Live processes whose environment names this Prefect home (the CLI, its server, its workers)."""
    needle = f"PREFECT_HOME={home}\0".encode()
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            if needle in (proc / "environ").read_bytes():
                found.append(f"{proc.name}: {(proc / 'cmdline').read_bytes()[:200]!r}")
        except OSError:
            continue
    return found


def _eventually_none(home: Path, within_s: float = 10) -> list[str]:
    deadline = time.monotonic() + within_s
    while (left := _processes_with(home)) and time.monotonic() < deadline:
        time.sleep(0.2)
    return left


def _flow_run_states(home: Path) -> list[tuple[str, str]]:
    with sqlite3.connect(home / "prefect.db") as db:
        return db.execute("SELECT name, state_type FROM flow_run").fetchall()


def _ctrl_c(process: subprocess.Popen[bytes]) -> None:
    os.killpg(process.pid, signal.SIGINT)  # what a terminal sends: the whole foreground process group


def _sigterm(process: subprocess.Popen[bytes]) -> None:
    os.kill(process.pid, signal.SIGTERM)  # what `kill`, systemd or a container runtime send


@pytest.mark.parametrize("stop", [_ctrl_c, _sigterm], ids=["ctrl-c", "sigterm"])
def test_an_interrupt_stops_the_run_within_seconds_and_leaves_nothing_running(
    tmp_path: Path,
    cli_env: dict[str, str],
    home: Path,
    tiny_model_dir: Path,
    stop: Callable[[subprocess.Popen[bytes]], None],
) -> None:
    env = dict(cli_env, PREFECT_HOME=str(home))
    process, log_path = _start(tmp_path, env, tiny_model_dir)
    stop(process)
    try:
        code = process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        raise AssertionError(f"still running 15 s after the signal\n{log_path.read_text()[-3000:]}") from None
    log = log_path.read_text()
    assert code == 130, log[-3000:]
    assert "interrupted: run shutdown-" in log and "rerun the same command to continue" in log
    assert "Error logging to API" not in log and "ConnectError" not in log, log[-3000:]
    assert "Traceback" not in log, log[-3000:]
    assert not _eventually_none(home), "processes left behind"
    states = _flow_run_states(home)
    assert states and all(state not in ("RUNNING", "PENDING") for _, state in states), states
    assert any(state in ("CRASHED", "CANCELLED") for _, state in states), states
    assert not list((home / "fair-servers").glob("*.json")), "a pidfile was left behind"


def test_a_killed_run_leaves_no_server_behind(
    tmp_path: Path, cli_env: dict[str, str], home: Path, tiny_model_dir: Path
) -> None:
    env = dict(cli_env, PREFECT_HOME=str(home))
    process, log_path = _start(tmp_path, env, tiny_model_dir)
    record = json.loads((home / "fair-servers" / f"{process.pid}.json").read_text())
    assert SERVER_APP.encode() in Path(f"/proc/{record['server_pid']}/cmdline").read_bytes()
    os.kill(process.pid, signal.SIGKILL)  # no cleanup code runs: the kernel ends the server (PDEATHSIG)
    process.wait()
    assert not _eventually_none(home, within_s=15), (
        f"the server outlived fair\n{log_path.read_text()[-2000:]}"
    )


def test_the_next_start_ends_an_orphaned_server(tmp_path: Path, cli_env: dict[str, str]) -> None:
    """A server whose `fair` died without taking it along (no PDEATHSIG: another OS, or a crash before it
    was set) is ended by the next start; a process that is not a Prefect server is never touched."""
    home = tmp_path / "home"
    servers = home / "fair-servers"
    servers.mkdir(parents=True)
    env = dict(cli_env, PREFECT_HOME=str(home))
    dead_owner = subprocess.Popen(["true"])
    dead_owner.wait()
    orphan = subprocess.Popen(
        server_command(free_port()), env=env, start_new_session=True, stdout=subprocess.DEVNULL
    )
    bystander = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    try:
        for pid in (orphan.pid, bystander.pid):
            (servers / f"{pid}.json").write_text(json.dumps({"owner_pid": dead_owner.pid, "server_pid": pid}))
        alive_owner = {"owner_pid": os.getpid(), "server_pid": bystander.pid}  # a run still going on
        (servers / "running.json").write_text(json.dumps(alive_owner))
        assert reap_orphans(servers) == [orphan.pid]
        orphan.wait(timeout=15)
        assert bystander.poll() is None, "a process that is not a Prefect server was ended"
        assert sorted(p.name for p in servers.iterdir()) == ["running.json"]
    finally:
        for process in (orphan, bystander):
            process.kill()
            process.wait()


@pytest.mark.parametrize("stop", [_ctrl_c, _sigterm], ids=["ctrl-c", "sigterm"])
def test_fair_up_stops_cleanly_on_ctrl_c_and_sigterm(
    tmp_path: Path, cli_env: dict[str, str], stop: Callable[[subprocess.Popen[bytes]], None]
) -> None:
    """`fair up` with no config and no API key (the forms default to current-svamp with real providers:
    serving only registers deployments) serves, then stops on either signal without Prefect's
    `RuntimeWarning: coroutine 'Runner.astop' was never awaited`, a traceback, or a process left."""
    import httpx

    from tests.e2e.prefect_api import Server

    port = free_port()
    api = f"http://127.0.0.1:{port}/api"
    home = tmp_path / "up-home"
    env = dict(cli_env, PREFECT_HOME=str(home))
    out_path, err_path = tmp_path / "up.out", tmp_path / "up.err"
    with out_path.open("wb") as out, err_path.open("wb") as err:
        process = subprocess.Popen(
            [FAIR, "up", "--port", str(port)], env=env, stdout=out, stderr=err, start_new_session=True
        )
    try:
        server = Server(api, env, tmp_path, {}, tmp_path, [out_path, err_path])
        deadline = time.monotonic() + 300
        while True:
            assert process.poll() is None, server.tail()
            assert time.monotonic() < deadline, server.tail()
            try:
                if len(server.post("/deployments/filter", {})) == 9:
                    break
            except httpx.HTTPError:
                pass  # not up yet
            time.sleep(1)
        time.sleep(2.0)  # the runner polls for flow runs
        stop(process)
        code = process.wait(timeout=60)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
    errors = err_path.read_text()
    assert code in (0, 130), (code, errors[-3000:])
    assert "RuntimeWarning" not in errors and "never awaited" not in errors, errors[-3000:]
    assert "Traceback" not in errors + out_path.read_text(), errors[-3000:]
    assert not _eventually_none(home), "processes left behind"
