"""End-to-end helpers: run the `fair` command in a subprocess; write configs; share converted models."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import yaml

from tests.tiny import tiny_dataset

FAIR = str(Path(sys.executable).with_name("fair"))


def fair(args: list[str], env: dict[str, str], timeout: float = 900) -> subprocess.CompletedProcess[str]:
    return subprocess.run([FAIR, *args], env=env, capture_output=True, text=True, timeout=timeout)


def stop_group(process: subprocess.Popen) -> None:
    """End a process started with `start_new_session=True` and its children: SIGTERM to its group, then
    SIGKILL after 30 s. A group already gone (killed by the test) is left as it is."""
    try:
        os.killpg(process.pid, signal.SIGTERM)
    except ProcessLookupError:
        process.wait()
        return
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def descendants(pid: int) -> list[int]:
    """Every process below `pid` (children in their own sessions too), read from /proc."""
    parents: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # gone meanwhile
            continue
        parents[int(stat.parent.name)] = int(fields[1])
    found, frontier = [], [pid]
    while frontier:
        children = [c for c, p in parents.items() if p in frontier]
        found += children
        frontier = children
    return found


def kill_machine(process: subprocess.Popen) -> list[int]:
    """SIGKILL a process and everything below it at once, as when its machine dies; the pids killed."""
    pids = [process.pid, *descendants(process.pid)]
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    process.wait()
    return pids


def write_config(path: Path, data: dict) -> Path:
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def link_models(models_dir: Path, data_dir: Path) -> None:
    """Reuse converted checkpoints: `<data_dir>/models` points at the session's models folder."""
    data_dir.mkdir(parents=True, exist_ok=True)
    target = data_dir / "models"
    if target.is_symlink() or target.exists():
        shutil.rmtree(target) if target.is_dir() and not target.is_symlink() else target.unlink()
    target.symlink_to(models_dir, target_is_directory=True)


def tiny_config(
    path: Path, name: str, data_dir: Path, model: Path, rounds: int = 1, **sections: dict
) -> Path:
    """A config of a tiny run (6 chain_sum questions, 3 test, three simulated teachers, the tiny student);
    `sections` replace whole sections (training, simulator, ...)."""
    data = {
        "run": {"name": name, "rounds": rounds, "data_dir": str(data_dir)},
        "dataset": tiny_dataset(),
        "student": {"model": str(model), "max_new_tokens": 8},
        "teachers": [{"name": n, "model": n} for n in ("gpt", "gemini", "mixtral")],
        **sections,
    }
    return write_config(path, data)
