"""End-to-end fixtures: a session-wide Prefect home for `fair` subprocesses."""

from __future__ import annotations

import os

import pytest


@pytest.fixture(scope="session")
def cli_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Environment for CLI runs: a private PREFECT_HOME (its database is migrated once), no analytics."""
    home = tmp_path_factory.mktemp("cli-prefect-home")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env.update(PREFECT_HOME=str(home), PREFECT_SERVER_ANALYTICS_ENABLED="false", COLUMNS="120")
    for key in ("OPENAI_API_KEY", "GEMINI_API_KEY", "MISTRAL_API_KEY", "DEEPINFRA_API_KEY"):
        env.pop(key, None)
    return env
