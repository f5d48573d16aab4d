"""End-to-end fixtures: a session-wide Prefect home for `fair` subprocesses; a real Prefect server."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.helpers import FAIR, stop_group, write_config
from tests.e2e.prefect_api import Server


@pytest.fixture(scope="session")
def cli_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Environment for CLI runs: a private PREFECT_HOME (its database is migrated once), no analytics."""
    home = tmp_path_factory.mktemp("cli-prefect-home")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env.update(PREFECT_HOME=str(home), PREFECT_SERVER_ANALYTICS_ENABLED="false", COLUMNS="120")
    for key in ("OPENAI_API_KEY", "GEMINI_API_KEY", "MISTRAL_API_KEY", "DEEPINFRA_API_KEY"):
        env.pop(key, None)
    return env


def serve_config(root: Path, model: Path) -> dict[str, Any]:
    """The config `fair serve` fills the forms with: the demo's shape with the tiny random student."""
    priced = {"price_input_per_mtok": 1.0, "price_output_per_mtok": 2.0, "max_retries": 1}
    return {
        "run": {
            "name": "served",
            "rounds": 1,
            "data_dir": str(root / "data"),
            "teacher_task_retry_delay_s": 1.0,  # the outage test's retries wait 1 s and 2 s, not 10 and 20
        },
        "dataset": {
            "name": "reasoning_gym",
            "gym": {
                "task": "chain_sum",
                "train_size": 8,
                "test_size": 4,
                "options": {"min_terms": 2, "max_terms": 2, "min_digits": 1, "max_digits": 1},
            },
        },
        "student": {"model": str(model), "max_new_tokens": 8},
        "teachers": [{"name": n, "model": n, **priced} for n in ("gpt", "gemini", "mixtral")],
        "training": {"learning_rate": 1e-3, "epochs": 1, "batch_size": 4, "grad_accum": 1, "max_length": 512},
        "simulator": {"enabled": True},
    }


@pytest.fixture(scope="session")
def fair_server(
    tmp_path_factory: pytest.TempPathFactory, cli_env: dict[str, str], tiny_model_dir: Path
) -> Iterator[Server]:
    """`prefect server start` on 127.0.0.1 with `fair serve` registering the deployments against it."""
    from flows.serving import prefect_server

    root = tmp_path_factory.mktemp("server")
    config = serve_config(root, tiny_model_dir)
    config_path = write_config(root / "served.yaml", config)
    home = root / "prefect-home"
    server_log, serve_log = root / "server.log", root / "serve.log"
    with prefect_server(home=home, log_path=server_log) as api:
        env = dict(cli_env, PREFECT_API_URL=api, PREFECT_HOME=str(home), PREFECT_RUNNER_POLL_FREQUENCY="2")
        with serve_log.open("wb") as log:
            process = subprocess.Popen(
                [FAIR, "serve", "--config", str(config_path)],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            server = Server(api, env, config_path, config, root, [server_log, serve_log])
            try:
                deadline = time.monotonic() + 300
                while len(server.post("/deployments/filter", {})) < 6:
                    assert process.poll() is None, server.tail()
                    assert time.monotonic() < deadline, f"deployments not registered\n{server.tail()}"
                    time.sleep(1)
                yield server
            finally:
                stop_group(process)
