"""The run lock: one process per run id and data dir, who holds it, --wait, and no stale lock after a kill."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from fair_core.locks import RunLocked, lock_path, read_holder, run_lock

HOLD = """
import pathlib, sys, time
from fair_core.locks import run_lock
with run_lock(sys.argv[1], sys.argv[2], command="fair demo (test holder)"):
    print("held", flush=True)
    time.sleep(float(sys.argv[3]))
    pathlib.Path(sys.argv[1], "holder-done").touch()  # still holding the lock
"""


def hold(data_dir: Path, run_id: str, seconds: float = 120) -> subprocess.Popen[str]:
    """Another process holding the run's lock (until it is killed or `seconds` pass)."""
    process = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(data_dir), run_id, str(seconds)],
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert process.stdout is not None and process.stdout.readline().strip() == "held"
    return process


def test_a_second_process_is_told_who_holds_the_run(tmp_path: Path) -> None:
    holder = hold(tmp_path, "run-a")
    try:
        with pytest.raises(RunLocked) as err, run_lock(tmp_path, "run-a"):
            pass
        message = str(err.value)
        assert f"run run-a is already running (pid {holder.pid} on " in message
        assert "since 20" in message and "UTC (fair demo (test holder))" in message and "--wait" in message
        assert err.value.holder["pid"] == holder.pid
        with run_lock(tmp_path, "run-b"):  # another run id of the same data dir is free
            pass
        with run_lock(tmp_path / "other", "run-a"):  # the same run id in another data dir too
            pass
    finally:
        holder.kill()
        holder.wait()


def test_a_killed_holder_leaves_no_stale_lock(tmp_path: Path) -> None:
    holder = hold(tmp_path, "run-a")
    os.kill(holder.pid, signal.SIGKILL)
    holder.wait()
    assert read_holder(lock_path(tmp_path, "run-a"))["pid"] == holder.pid  # its note is still there
    with run_lock(tmp_path, "run-a") as path:  # but the kernel dropped its flock
        assert read_holder(path)["pid"] == os.getpid()
    assert read_holder(path) == {}  # released: nobody named as holder


def test_wait_blocks_until_the_holder_ends(tmp_path: Path) -> None:
    holder = hold(tmp_path, "run-a", seconds=1.5)
    told = []
    with run_lock(tmp_path, "run-a", wait=True, on_wait=told.append):
        assert (tmp_path / "holder-done").exists()  # we got it only once the holder had finished
    assert told and told[0].holder["pid"] == holder.pid
    holder.wait()


def test_the_lock_is_reentrant_in_one_process(tmp_path: Path) -> None:
    with run_lock(tmp_path, "run-a") as outer, run_lock(tmp_path, "run-a") as inner:
        assert outer == inner == tmp_path.resolve() / "runs" / "run-a" / ".run.lock"
        assert read_holder(outer)["pid"] == os.getpid()
    with run_lock(tmp_path, "run-a"):  # and free again once the outer block ends
        started = time.time()
        assert read_holder(lock_path(tmp_path, "run-a"))["started"] <= started
