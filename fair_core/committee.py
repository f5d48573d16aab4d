"""The teacher committee as pure steps: plan requests per teacher and role, then parse replies into rows."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

from fair_core.answers import answers_match, extract_answer
from fair_core.config import TeacherConfig
from fair_core.prompts import PromptSet
from fair_core.records import Example
from fair_core.teachers.base import ChatRequest
from fair_core.teachers.caller import PlannedCall


def plan_committee_calls(
    teacher: TeacherConfig,
    role: Literal["feedback", "rationale"],
    examples: Mapping[str, Example],
    mistakes: Sequence[Mapping[str, Any]],
    prompts: PromptSet,
) -> list[PlannedCall]:
    """Feedback on each mistake (question, wrong answer, hint) or a rationale for each mistaken question."""
    planned = []
    for mistake in mistakes:
        example = examples[mistake["example_id"]]
        if role == "feedback":
            wrong = mistake.get("student_completion") or mistake.get("student_prediction") or ""
            messages = prompts.feedback(example, wrong)
        else:
            messages = prompts.rationale(example)
        planned.append(PlannedCall(ChatRequest.for_teacher(teacher, messages), role, example.id))
    return planned


def feedback_rows(calls: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    return [
        {"example_id": c["example_id"], "teacher": c["teacher"], "status": c["status"], "text": c["text"]}
        for c in calls
        if c["role"] == "feedback"
    ]


def rationale_rows(
    calls: Sequence[Mapping[str, Any]], examples: Mapping[str, Example]
) -> list[dict[str, Any]]:
    """Rationales with their final answer parsed and checked against gold (for the optional gold check)."""
    rows = []
    for c in calls:
        if c["role"] != "rationale":
            continue
        example = examples[c["example_id"]]
        predicted = extract_answer(c["text"], example.kind, example.options) if c["text"] else None
        rows.append(
            {
                "example_id": c["example_id"],
                "teacher": c["teacher"],
                "status": c["status"],
                "text": c["text"],
                "predicted": predicted,
                "gold_ok": answers_match(predicted, example.answer, example.kind) if c["text"] else None,
            }
        )
    return rows
