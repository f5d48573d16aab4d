"""End-to-end helpers: run the `fair` command in a subprocess; write configs; share converted models."""

from __future__ import annotations

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
    SIGKILL after 30 s."""
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


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
