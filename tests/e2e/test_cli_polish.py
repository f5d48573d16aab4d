"""`fair --version`, `-h` everywhere, and an unreachable Hub as one error line (no traceback, no retries)
for `fair estimate` and `fair run`, before any Prefect server starts."""

from __future__ import annotations

import re
import socket
from pathlib import Path

import pytest

from flows.serving import free_port
from tests.e2e.helpers import fair


def test_version_prints_the_version_and_commit(cli_env: dict[str, str]) -> None:
    done = fair(["--version"], cli_env, timeout=120)
    assert done.returncode == 0, done.stderr
    assert re.fullmatch(r"fair-distill \d+\.\d+\.\d+(\S*)\n", done.stdout), done.stdout
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize("args", [["-h"], ["run", "-h"], ["up", "--help"]])
def test_help_with_h_on_the_app_and_its_commands(cli_env: dict[str, str], args: list[str]) -> None:
    done = fair(args, cli_env, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "Usage: fair" in done.stdout and "Traceback" not in done.stderr
    if args == ["-h"]:
        assert "fair demo" in done.stdout and "runs" in done.stdout


@pytest.fixture
def closed_hub(cli_env: dict[str, str], tmp_path: Path) -> dict[str, str]:
    """HF_ENDPOINT at a local port nothing listens on (the network boundary), HF_HUB_OFFLINE unset, fake
    keys (nothing is ever sent) and an empty Hugging Face cache."""
    port = free_port()
    with socket.socket() as s:  # nothing listens there: connecting is refused at once
        assert s.connect_ex(("127.0.0.1", port)) != 0
    env = {k: v for k, v in cli_env.items() if k not in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE")}
    env["HF_ENDPOINT"] = f"http://127.0.0.1:{port}"
    env |= {k: "sk-test-never-sent" for k in ("OPENAI_API_KEY", "GEMINI_API_KEY", "MISTRAL_API_KEY")}
    env["DEEPINFRA_API_KEY"] = "sk-test-never-sent"
    env["HF_HOME"] = str(tmp_path / "hf-home")  # an empty Hugging Face cache
    return env


@pytest.mark.parametrize("command", ["estimate", "run"])
def test_an_unreachable_hub_is_one_line_naming_the_dataset(
    closed_hub: dict[str, str], tmp_path: Path, command: str
) -> None:
    args = [command, "-c", "fair-svamp", "--data-dir", str(tmp_path / "data")]
    done = fair(args, closed_hub, timeout=60)
    assert done.returncode != 0, done.stdout
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, done.stderr
    assert "svamp" in lines[0].lower() and "unreachable" in lines[0], lines[0]
    assert closed_hub["HF_ENDPOINT"] in lines[0]
    assert "Traceback" not in done.stderr + done.stdout
    assert "prefect" not in (done.stdout + done.stderr).lower()  # no server was started


def test_every_command_takes_h() -> None:
    from typer.testing import CliRunner

    from flows.cli import app

    names = [c.name or c.callback.__name__.replace("_", "-") for c in app.registered_commands]  # type: ignore[union-attr]
    names += [str(g.name) for g in app.registered_groups]
    assert {"run", "estimate", "report", "up", "serve", "runs"} <= set(names)
    for name in names:
        done = CliRunner().invoke(app, [name, "-h"])
        assert done.exit_code == 0 and "Usage:" in done.output, (name, done.output)
