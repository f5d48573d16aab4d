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


# --- issue 12: the teachers' hint (prompts.teacher_hint) and how the student is asked -------------------

WORKED = Example(
    "g1",
    "gsm8k",
    "Ann has 3 pens and buys 4. How many pens?",
    "7",
    solution="Ann starts with 3 pens and buys 4 more: 3 + 4 = 7.",
)


def test_solution_hint_carries_the_worked_solution_to_feedback_and_review() -> None:
    plain, hinted = PromptSet(), PromptSet(teacher_hint="solution")
    for build in (lambda p: p.feedback(WORKED, "8"), lambda p: p.review(WORKED, "3 + 4 = 8")):
        answer_only, with_solution = build(plain)[-1].content, build(hinted)[-1].content
        assert WORKED.solution not in answer_only
        assert WORKED.solution in with_solution and "the correct answer is 7" in with_solution
        # the same prompt, with the solution block right after the hint line
        hint = "Hint: the correct answer is 7."
        block = f'{hint}\nWorked solution from the dataset, for reference:\n"""\n{WORKED.solution}\n"""'
        assert with_solution == answer_only.replace(hint, block)


def test_answer_hint_prompts_are_unchanged_and_no_solution_falls_back_to_the_answer() -> None:
    plain, hinted = PromptSet(), PromptSet(teacher_hint="solution")
    feedback = plain.feedback(WORKED, "8")[-1].content
    assert "Hint: the correct answer is 7.\n\nIdentify the mistakes" in feedback
    assert hinted.feedback(MATH, "8") == plain.feedback(MATH, "8")  # MATH has no solution
    assert hinted.review(BOOL, "yes") == plain.review(BOOL, "yes")
    assert plain.fingerprint() == PromptSet(teacher_hint="answer").fingerprint() != hinted.fingerprint()


def test_solution_hint_works_with_user_templates_that_ignore_it(tmp_path: Path) -> None:
    (tmp_path / "feedback.txt").write_text("Q: {{ question_block }} A: {{ student_answer }} Gold: {{ gold }}")
    prompts = PromptSet(tmp_path, teacher_hint="solution")
    assert prompts.feedback(WORKED, "8")[-1].content == f"Q: {WORKED.question} A: 8 Gold: 7"


def test_answer_prompt_is_the_training_layout_byte_for_byte() -> None:
    student, training = PromptSet(), PromptSet(answer_layout="instruction")
    for example in (MATH, BOOL, CHOICE):
        assert student.answer_prompt(example) == student.student(example)
        asked = training.answer_prompt(example)
        assert asked == training.train_rationale_prompt(example, "instruction")
        assert asked.startswith("### Instruction:") and asked.endswith("### Response:")
    assert PromptSet(answer_layout="student").fingerprint() == student.fingerprint()
    assert training.fingerprint() != student.fingerprint()


def test_unknown_hint_or_layout_is_one_clear_error() -> None:
    with pytest.raises(PromptError, match="teacher_hint 'facts'"):
        PromptSet(teacher_hint="facts")
    with pytest.raises(PromptError, match="answer_layout 'chat'"):
        PromptSet(answer_layout="chat")
