"""The teacher committee as pure steps: plan requests per teacher and role, then parse replies into rows."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from fair_core.answers import answers_match, extract_answer
from fair_core.config import TeacherConfig
from fair_core.prompts import PromptSet
from fair_core.records import Example
from fair_core.review import parse_score
from fair_core.teachers.base import ChatRequest
from fair_core.teachers.cost import CallMode, Price, call_cost
from fair_core.teachers.engine import CallResult

CallRole = Literal["feedback", "rationale", "review"]


@dataclass(frozen=True)
class PlannedCall:
    """One request to send, with what it is about (for the `teacher_calls` table)."""

    request: ChatRequest
    role: CallRole
    example_id: str
    target: str | None = None


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


def plan_reviews(
    reviewer: TeacherConfig,
    examples: Mapping[str, Example],
    rationales: Sequence[Mapping[str, Any]],
    prompts: PromptSet,
) -> list[PlannedCall]:
    """The reviewer grades every other teacher's rationale (never its own)."""
    planned = []
    for row in rationales:
        if row["teacher"] == reviewer.name or not row.get("text"):
            continue
        example = examples[row["example_id"]]
        messages = prompts.review(example, row["text"])
        planned.append(
            PlannedCall(ChatRequest.for_teacher(reviewer, messages), "review", example.id, row["teacher"])
        )
    return planned


def call_rows(
    planned: Sequence[PlannedCall],
    results: Sequence[CallResult],
    prices: Mapping[str, Price | None] | None = None,
) -> list[dict[str, Any]]:
    """Rows of the `teacher_calls` table (one per request, reply text, usage and cost included).

    `mode` is how the reply came: `online`, `batch` or `cache` (also a repeat of a request already in this
    batch). `cost_usd` is what this run paid for the row (0 from the cache); `billed_usd` is what the reply
    cost when it was obtained (batch replies at the batch price), so cached rows keep their price visible.
    Teachers without a price (see `fair_core.teachers.cost`) cost 0.
    """
    rows = []
    paid: set[str] = set()
    for plan, result in zip(planned, results, strict=True):
        response = result.response
        key = plan.request.key()
        origin: CallMode = "batch" if response.meta.get("mode") == "batch" else "online"
        billed = 0.0
        if response.status in ("ok", "refused"):
            price = (prices or {}).get(plan.request.teacher)
            billed = call_cost(price, response.prompt_tokens, response.completion_tokens, origin)
        mode: CallMode = "cache" if result.cached or key in paid else origin
        if mode != "cache":
            paid.add(key)
        rows.append(
            {
                "request_key": key,
                "teacher": plan.request.teacher,
                "role": plan.role,
                "example_id": plan.example_id,
                "target": plan.target,
                "provider": plan.request.provider,
                "model": plan.request.model,
                "status": response.status,
                "text": response.text,
                "error": response.error,
                "prompt_tokens": response.prompt_tokens,
                "completion_tokens": response.completion_tokens,
                "latency_s": response.latency_s,
                "cached": result.cached,
                "attempts": result.attempts,
                "mode": mode,
                "cost_usd": 0.0 if mode == "cache" else billed,
                "billed_usd": billed,
            }
        )
    return rows


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


def review_rows(calls: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Reviews with the parsed score; an unparseable reply keeps score None (stored, never raised)."""
    rows = []
    for c in calls:
        if c["role"] != "review":
            continue
        score = parse_score(c["text"]) if c["status"] == "ok" else None
        rows.append(
            {
                "example_id": c["example_id"],
                "author": c["target"],
                "reviewer": c["teacher"],
                "status": c["status"],
                "score": score,
                "valid": score is not None and 1 <= score <= 5,
                "text": c["text"],
            }
        )
    return rows
