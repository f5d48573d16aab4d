"""Token-budget batching and stop strings of the transformers student, on the tiny model."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from fair_core.students.base import GenerationParams
from fair_core.students.stopping import cut_at_stop
from fair_core.students.transformers_backend import TransformersStudent, plan_batches
from tests.core.students.helpers import PROMPTS

pytestmark = pytest.mark.usefixtures("torch_single_thread")


def test_plan_batches_by_rows_and_tokens() -> None:
    lengths = [50, 40, 30, 10, 10, 5]
    assert plan_batches(lengths, 4, None, 10) == [(0, 4), (4, 6)]
    # 60-token rows: 2 fit in 130; then 40+10 -> 2 rows; 30+10 -> 3 rows (batch size 4 would allow more)
    assert plan_batches(lengths, 4, 130, 10) == [(0, 2), (2, 5), (5, 6)]
    assert plan_batches([500, 5], 8, 100, 10) == [(0, 1), (1, 2)]  # alone over budget: a batch of one
    assert plan_batches([], 8, 100, 10) == []


def test_cut_at_stop() -> None:
    assert cut_at_stop("The answer is 5.\n\nQuestion: next", ["\n\nQuestion:", "####"]) == (
        "The answer is 5.",
        True,
    )
    assert cut_at_stop("a #### b \n\nQuestion:", ["\n\nQuestion:", "####"]) == ("a ", True)
    assert cut_at_stop("nothing here", ["####", ""]) == ("nothing here", False)


@pytest.fixture(scope="module")
def student(tiny_model_dir: Path) -> Iterator[TransformersStudent]:
    model = TransformersStudent(tiny_model_dir, batch_size=7)
    yield model
    model.close()


def test_token_budget_batching_equals_plain_batching(student: TransformersStudent) -> None:
    params = GenerationParams(max_new_tokens=12)
    plain = student.generate(PROMPTS, params)
    calls: list[tuple[int, int]] = []
    student.token_budget = 60  # rows of 30-45 tokens: batches of one or two prompts
    try:
        budgeted = student.generate(PROMPTS, params, progress=lambda d, t: calls.append((d, t)))
    finally:
        student.token_budget = None
    assert budgeted == plain
    assert [g.token_ids for g in budgeted] == [g.token_ids for g in plain]
    assert len(calls) > 2 and calls[-1] == (7, 7)  # more batches than the single plain one


def test_stop_strings_end_the_answer(student: TransformersStudent) -> None:
    free = student.generate(PROMPTS, GenerationParams(max_new_tokens=16))
    # a stop string taken from inside one answer: that answer is cut before it, shorter in tokens too
    victim = max(range(len(free)), key=lambda i: len(free[i].text.strip()))
    text = free[victim].text
    stop = text[len(text) // 2 : len(text) // 2 + 2]
    assert stop.strip(), f"pick a visible stop string from {text!r}"
    stopped = student.generate(PROMPTS, GenerationParams(max_new_tokens=16, stop=(stop,)))
    assert stopped[victim].text == text[: text.find(stop)]
    assert stopped[victim].completion_tokens < free[victim].completion_tokens
    # generation ended at the token that completed the stop string (not at the padding after it)
    ids = list(stopped[victim].token_ids)
    assert len(ids) == stopped[victim].completion_tokens
    assert stop in student.tokenizer.decode(ids) and stop not in student.tokenizer.decode(ids[:-1])
    for before, after in zip(free, stopped, strict=True):
        assert stop not in after.text
        assert before.text.startswith(after.text)
