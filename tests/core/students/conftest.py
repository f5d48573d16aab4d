"""Fixtures of the student tests: the separate vLLM environment (made by scripts/setup_vllm_env.sh)."""

from __future__ import annotations

import platform

import pytest


@pytest.fixture(scope="session")
def vllm_env() -> str:
    """The vLLM environment's folder. `make test` creates it first; the tests that need it skip only where
    vLLM has no wheels (not Linux x86_64/arm64), and fail elsewhere when it is missing."""
    from fair_core.students.vllm_backend import (
        SETUP_SCRIPT,
        vllm_env_dir,
        vllm_platform_supported,
        vllm_python,
    )

    if vllm_python(None) is not None:
        return str(vllm_env_dir(None))
    if not vllm_platform_supported():
        pytest.skip(
            f"vLLM has no wheels for {platform.system()} {platform.machine()}, so {SETUP_SCRIPT} cannot "
            "create its environment here"
        )
    pytest.fail(f"the vLLM environment {vllm_env_dir(None)} is missing: run {SETUP_SCRIPT} (make test does)")
