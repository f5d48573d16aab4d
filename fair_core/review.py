"""Peer review, pure: plan the reviews (who grades whose rationale), parse each reviewer's 1-5 score,
and decide which rationales are accepted."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from fair_core.config import TeacherConfig
from fair_core.prompts import PromptSet
from fair_core.records import Example
from fair_core.teachers.base import ChatRequest
from fair_core.teachers.caller import PlannedCall

_BRACKETED = re.compile(r"\[\s*(-?\d+(?:\.\d+)?)\s*(?:/\s*\d+(?:\.\d+)?)?\s*\]")
_RATIO = re.compile(r"(-?\d+(?:\.\d+)?)\s*/\s*\d+(?:\.\d+)?")
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")

MIN_SCORE = 1
MAX_SCORE = 5


def _as_int(text: str) -> int | None:
    value = float(text)
    return int(value) if value.is_integer() else None


def parse_score(text: str | None) -> int | None:
    """The score in a review: the last `[n]` (also `[n/5]`), else the last `x/y` (x), else the last integer.

    Returns `None` when there is no number at all or the chosen number is not an integer; numbers outside
    1..5 are returned as they are and rejected later by `valid_scores`, so the stored value shows what the
    reviewer wrote.
    """
    if not text:
        return None
    for pattern in (_BRACKETED, _RATIO, _NUMBER):
        found = pattern.findall(text)
        if found:
            return _as_int(found[-1])
    return None


def valid_scores(scores: Iterable[int | float | None]) -> list[float]:
    """The scores a decision may use: numbers within 1..5 (the reference keeps `0 < s < 6`)."""
    return [float(s) for s in scores if s is not None and MIN_SCORE <= s <= MAX_SCORE]


@dataclass(frozen=True)
class Verdict:
    """Why a rationale was kept or dropped."""

    n_valid: int
    mean_score: float | None
    gold_ok: bool | None
    accepted: bool
    reason: str


def judge(
    scores: Sequence[int | float | None],
    *,
    threshold: float = 3.0,
    min_valid: int = 1,
    gold_ok: bool | None = None,
    require_gold: bool = False,
    review_enabled: bool = True,
    parsed: bool = True,
) -> Verdict:
    """Accept a rationale when the mean of its valid scores is above `threshold` (reference: mean > 3).

    `gold_ok` is whether the rationale's own final answer matches the gold answer (None: unknown); with
    `require_gold` a rationale must also reach the gold answer. With `review_enabled=False` every rationale
    with a text is accepted (the paper's no-review ablation), subject to the gold check when required.
    """
    kept = valid_scores(scores)
    mean = sum(kept) / len(kept) if kept else None
    if not parsed:
        return Verdict(len(kept), mean, gold_ok, False, "no rationale text")
    if require_gold and gold_ok is not True:
        return Verdict(len(kept), mean, gold_ok, False, "final answer does not match gold")
    if not review_enabled:
        return Verdict(len(kept), mean, gold_ok, True, "review off")
    if len(kept) < min_valid:
        return Verdict(len(kept), mean, gold_ok, False, f"{len(kept)} valid scores < {min_valid}")
    if mean is not None and mean > threshold:
        return Verdict(len(kept), mean, gold_ok, True, f"mean {mean:.2f} > {threshold:g}")
    return Verdict(len(kept), mean, gold_ok, False, f"mean {mean:.2f} <= {threshold:g}")


def select_rationales(
    rationales: Sequence[dict],
    reviews: Sequence[dict],
    *,
    threshold: float = 3.0,
    min_valid: int = 1,
    require_gold: bool = False,
    review_enabled: bool = True,
) -> list[dict]:
    """Acceptance rows (example_id, teacher, n_valid, mean_score, gold_ok, accepted, reason) for every
    rationale row, from the review rows (example_id, author, reviewer, score)."""
    scores: dict[tuple[str, str], list[int | None]] = {}
    for review in reviews:
        scores.setdefault((review["example_id"], review["author"]), []).append(review["score"])
    rows = []
    for rationale in rationales:
        key = (rationale["example_id"], rationale["teacher"])
        verdict = judge(
            scores.get(key, []),
            threshold=threshold,
            min_valid=min_valid,
            gold_ok=rationale.get("gold_ok"),
            require_gold=require_gold,
            review_enabled=review_enabled,
            parsed=bool(rationale.get("text")) and rationale.get("status", "ok") == "ok",
        )
        rows.append(
            {
                "example_id": key[0],
                "teacher": key[1],
                "n_valid": verdict.n_valid,
                "mean_score": verdict.mean_score,
                "gold_ok": verdict.gold_ok,
                "accepted": verdict.accepted,
                "reason": verdict.reason,
            }
        )
    return rows


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
