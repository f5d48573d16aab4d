"""Prompt templates: what each prompt carries, user template folders, clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from fair_core.prompts import PromptError, PromptSet
from fair_core.prompts.builder import TEMPLATE_NAMES
from fair_core.records import Example

MATH = Example("m1", "gsm8k", "Ann has 3 pens and buys 4. How many pens?", "7")
BOOL = Example("s1", "strategyqa", "Can a dog fly?", "false", kind="boolean")
CHOICE = Example(
    "l1",
    "logiqa",
    "Which follows?",
    "C",
    kind="choice",
    context="All birds sing.",
    options=("x", "y", "z", "w"),
)


def test_every_template_is_shipped() -> None:
    prompts = PromptSet()
    for name in TEMPLATE_NAMES:
        assert prompts.render(
            name,
            question="q",
            context="c",
            options_block="o",
            question_block="b",
            student_answer="s",
            gold="g",
            rationale="r",
            instruction="i",
            input="x",
        )


def test_student_prompts_per_dataset_kind() -> None:
    prompts = PromptSet()
    assert prompts.student(MATH) == MATH.question  # gsm8k/svamp: the bare question
    assert "True or False" in prompts.student(BOOL) and BOOL.question in prompts.student(BOOL)
    choice = prompts.student(CHOICE)
    assert "All birds sing." in choice and "C. z" in choice and "letter" in choice
    assert prompts.rationale(MATH)[0].content == prompts.student(MATH)  # teachers see no gold answer


def test_feedback_and_review_prompts() -> None:
    prompts = PromptSet()
    system, user = prompts.feedback(MATH, "3 + 4 = 8")
    assert system.role == "system" and user.role == "user"
    assert (
        "3 + 4 = 8" in user.content
        and "correct answer is 7" in user.content
        and MATH.question in user.content
    )
    system, user = prompts.review(CHOICE, "Because z. The answer is C.")
    assert "Because z" in user.content and "correct answer is C. z" in user.content
    assert "[4]" in user.content and "1" in user.content and "5" in user.content


def test_user_template_folder_replaces_and_extends(tmp_path: Path) -> None:
    (tmp_path / "student_numeric.txt").write_text("Solve: {{ question }}")
    (tmp_path / "student_gsm8k.txt").write_text("GSM: {{ question }}")
    prompts = PromptSet(tmp_path)
    assert prompts.student(MATH) == f"GSM: {MATH.question}"
    assert prompts.student(Example("v", "svamp", "q?", "1")) == "Solve: q?"
    assert prompts.fingerprint() != PromptSet().fingerprint()


def test_template_errors_name_the_file(tmp_path: Path) -> None:
    (tmp_path / "review.txt").write_text("{{ nothing_like_this }}")
    with pytest.raises(PromptError, match=r"review\.txt"):
        PromptSet(tmp_path).review(MATH, "r")
    with pytest.raises(PromptError, match="not found"):
        PromptSet(tmp_path / "missing")
