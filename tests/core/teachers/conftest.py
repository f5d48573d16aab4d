"""Fixtures of the teacher tests: hand-built examples of every answer kind, teacher configs, a cache."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from fair_core.config import TeacherConfig
from fair_core.records import Example
from fair_core.teachers.cache import ResponseCache

EXAMPLES = (
    Example(
        "gsm-1",
        "gsm8k",
        "Tom has 3 apples and buys 4 more bags of 2 apples each. How many apples does he have?",
        "11",
        solution="Tom buys 4 * 2 = 8 apples.\nSo he has 3 + 8 = 11 apples.",
    ),
    Example("svamp-1", "svamp", "A shelf holds 12 books. 5 are taken away. How many are left?", "7"),
    Example("sqa-1", "strategyqa", "Could a penguin fly across the Atlantic Ocean?", "false", "boolean"),
    Example("sqa-2", "strategyqa", "Is water made of hydrogen and oxygen?", "true", "boolean"),
    Example(
        "logiqa-1",
        "logiqa",
        "Which one of the following must be true?",
        "C",
        "choice",
        context="Every member of the chess club also plays go. Anna is a member of the chess club.",
        options=("Anna does not play go.", "Anna plays only chess.", "Anna plays go.", "Nobody plays go."),
    ),
    Example(
        "logiqa-2",
        "logiqa",
        "Which one of the following must be true?",
        "A",
        "choice",
        context="No fish can climb trees. Nemo is a fish.",
        options=("Nemo cannot climb trees.", "Nemo climbs trees.", "Nemo is a bird.", "Fish are birds."),
    ),
)


@pytest.fixture
def examples() -> tuple[Example, ...]:
    return EXAMPLES


@pytest.fixture
def cache(tmp_path: Path) -> Iterator[ResponseCache]:
    with ResponseCache(tmp_path / "teachers.sqlite") as response_cache:
        yield response_cache


def teacher(name: str, model: str, base_url: str | None = None, **extra: object) -> TeacherConfig:
    return TeacherConfig(name=name, provider="openai", model=model, base_url=base_url, **extra)
