"""Flow tests share one Prefect test harness (a temporary server and database) for the whole session."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest

from fair_core.config import FairConfig, parse_config
from tests.tiny import tiny_dataset


@pytest.fixture(scope="session", autouse=True)
def prefect_harness(
    tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[None]:
    """The server's database on the session's PostgreSQL when there is one (tagged task runs cost about a
    tenth of what they cost on SQLite: tests/prefect_harness.py), else Prefect's SQLite harness."""
    from prefect.settings import (
        PREFECT_HOME,
        PREFECT_RESULTS_LOCAL_STORAGE_PATH,
        PREFECT_SERVER_ANALYTICS_ENABLED,
        temporary_settings,
    )
    from prefect.testing.utilities import prefect_test_harness

    from tests.prefect_harness import postgres_test_harness

    home = tmp_path_factory.mktemp("prefect-home")
    settings = {
        PREFECT_HOME: str(home),
        PREFECT_RESULTS_LOCAL_STORAGE_PATH: str(home / "results"),
        PREFECT_SERVER_ANALYTICS_ENABLED: False,
    }
    with ExitStack() as stack:
        stack.enter_context(temporary_settings(updates=settings))
        if postgres_available():
            server = request.getfixturevalue("postgres_server")
            stack.enter_context(postgres_test_harness(server.new_database(), startup_timeout=90))
        else:
            stack.enter_context(prefect_test_harness(server_startup_timeout=90))
        yield


def postgres_available() -> bool:
    try:
        import psycopg  # noqa: F401

        from tests.pg import pg_bin

        pg_bin()
    except (ImportError, RuntimeError):
        return False
    return True


@pytest.fixture()
def tiny_config(tmp_path: Path, tiny_model_dir: Path):
    """A FAIR config small enough for seconds per round: tiny random student, simulated teachers."""

    def make(**sections: Any) -> FairConfig:
        data: dict[str, Any] = {
            "run": {"name": "tiny", "rounds": 1, "data_dir": str(tmp_path / "data")},
            "dataset": tiny_dataset(),
            "student": {"model": str(tiny_model_dir), "max_new_tokens": 8, "batch_size": 8},
            "teachers": [
                {"name": n, "model": m} for n, m in (("gpt", "gpt-t"), ("gem", "gem-t"), ("mix", "mix-t"))
            ],
            "review": {"gold_check": True},
            "training": {
                "learning_rate": 1e-3,
                "epochs": 1,
                "batch_size": 4,
                "grad_accum": 1,
                "max_length": 512,
            },
            "simulator": {"enabled": True, "unparseable_rate": 0.0},
        }
        for key, value in sections.items():
            data[key] = {**data.get(key, {}), **value} if isinstance(value, dict) else value
        return parse_config(data)

    return make
