"""Fixtures of the teacher tests: the examples, a cache (helpers live in tests/simulators/fixtures.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from fair_core.records import Example
from fair_core.teachers.cache import ResponseCache
from tests.simulators.fixtures import EXAMPLES, teacher

__all__ = ["EXAMPLES", "teacher"]  # still imported from here by the engine, cache and key tests


@pytest.fixture
def examples() -> tuple[Example, ...]:
    return EXAMPLES


@pytest.fixture
def cache(tmp_path: Path) -> Iterator[ResponseCache]:
    with ResponseCache(tmp_path / "teachers.sqlite") as response_cache:
        yield response_cache
