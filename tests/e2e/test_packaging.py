"""The built wheel works outside the checkout: presets by name, accelerate configs, the `fair` CLI."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
#: What the wheel is built from: the checkout without environments, data and build leftovers.
SKIP = shutil.ignore_patterns(
    ".git", ".venv*", "data", "build", "dist", "*.egg-info", "__pycache__", ".*_cache", "test-output", "bench"
)

CHECK = """
import fair_core, flows, deployments
from fair_core.config import list_presets, load_config, preset_path
from fair_core.training.launch import ACCELERATE_DIR, DEFAULT_CONFIGS
import yaml
print("fair_core", fair_core.__file__)
print("flows", flows.__file__)
print("accelerate", ACCELERATE_DIR)
names = list_presets()
assert {"demo", "paper-gsm8k", "paper-svamp", "paper-strategyqa", "paper-logiqa"} <= set(names), names
for name in names:
    config = load_config(name)
    assert preset_path(name).is_file() and config.run_id(), name
    print("preset", name, preset_path(name))
for name in DEFAULT_CONFIGS.values():
    assert isinstance(yaml.safe_load((ACCELERATE_DIR / name).read_text()), dict), name
print("accelerate-configs", sorted(p.name for p in ACCELERATE_DIR.glob("*.yaml")))
"""


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel built from a copy of the checkout, installed (no dependencies) into a target folder."""
    tmp = tmp_path_factory.mktemp("packaging")
    source = tmp / "source"
    shutil.copytree(ROOT, source, ignore=SKIP)
    wheels = tmp / "wheels"
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--no-input"]
    build = [*pip, "wheel", "--no-deps", "--no-build-isolation", str(source), "-w", str(wheels)]
    subprocess.run(build, check=True, capture_output=True, text=True, timeout=600)
    (wheel,) = wheels.glob("fair_distill-*.whl")
    target = tmp / "site"
    install = [*pip, "install", "--no-deps", "--no-index", "--target", str(target), str(wheel)]
    subprocess.run(install, check=True, capture_output=True, text=True, timeout=600)
    return target


def _run(args: list[str], site: Path, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, *args]
    env = dict(env, PYTHONPATH=str(site))
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


@pytest.mark.slow
def test_the_wheel_carries_presets_and_launch_configs(site: Path, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    done = _run(["-c", CHECK], site, tmp_path, env)
    assert done.returncode == 0, done.stderr
    lines = dict(line.split(" ", 1) for line in done.stdout.splitlines())
    for key in ("fair_core", "flows", "accelerate"):  # the wheel's files, not the editable checkout's
        assert Path(lines[key]).resolve().is_relative_to(site.resolve()), (key, lines[key])
    presets = [line for line in done.stdout.splitlines() if line.startswith("preset ")]
    assert len(presets) >= 5 and all(str(site) in line for line in presets)
    assert "ddp.yaml" in lines["accelerate-configs"]


@pytest.mark.slow
def test_fair_run_loads_a_preset_from_the_wheel(site: Path, tmp_path: Path, cli_env: dict[str, str]) -> None:
    env = {k: v for k, v in cli_env.items() if k != "PYTHONPATH"}
    assert not (tmp_path / "paper-svamp").exists() and not (tmp_path / "fair_core").exists()
    done = _run(["-m", "flows.cli", "run", "--config", "paper-svamp"], site, tmp_path, env)
    assert done.returncode == 2, done.stdout + done.stderr
    message = " ".join((done.stdout + done.stderr).split())
    assert "error: teacher 'gpt' (openai, gpt-3.5-turbo) needs an API key" in message, message
    assert "OPENAI_API_KEY" in message and "Traceback" not in done.stderr
