"""End-to-end helpers: run the `fair` command in a subprocess; write configs; share converted models."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import yaml

FAIR = str(Path(sys.executable).with_name("fair"))


def fair(args: list[str], env: dict[str, str], timeout: float = 900) -> subprocess.CompletedProcess[str]:
    return subprocess.run([FAIR, *args], env=env, capture_output=True, text=True, timeout=timeout)


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
