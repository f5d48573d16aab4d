"""Peer review, pure: plan the reviews (who grades whose rationale), parse each reviewer's 1-5 score,
and decide which rationales are accepted (scores combined by `review.aggregation`)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from fair_core.config import TeacherConfig
from fair_core.prompts import PromptSet
from fair_core.records import Example
from fair_core.review_plan import ReviewPlan, assigned_reviewers
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


#: The score rules of `review.aggregation` (fair_core/config/review.py).
AGGREGATIONS = ("mean", "median", "min", "majority", "weighted")

#: Pseudo-reviews at reliability 0.5 added to every reviewer's record (`reviewer_reliability`): a reviewer
#: with few gold-checked reviews gets a weight near 0.5, like the others.
RELIABILITY_PRIOR = 10


@dataclass(frozen=True)
class Verdict:
    """Why a rationale was kept or dropped. `mean_score`: the plain mean of the valid scores (whatever the
    rule); `aggregate`: the value the rule compared with the threshold (majority: the share above it)."""

    n_valid: int
    mean_score: float | None
    gold_ok: bool | None
    accepted: bool
    reason: str
    aggregate: float | None = None


def _combine(
    kept: Sequence[float], weights: Sequence[float], aggregation: str, threshold: float
) -> tuple[float, bool, str]:
    """(value, passes, reason) of one rule on the valid scores `kept` (not empty)."""
    import numpy as np

    if aggregation == "majority":
        above = sum(s > threshold for s in kept)
        passes = above > len(kept) / 2
        return above / len(kept), passes, f"{above} of {len(kept)} scores > {threshold:g} (majority)"
    rules = {
        "mean": lambda: np.mean(kept),
        "median": lambda: np.median(kept),
        "min": lambda: np.min(kept),
        "weighted": lambda: np.average(kept, weights=weights),
    }
    if aggregation not in rules:
        raise ValueError(f"review.aggregation {aggregation!r}: use one of {', '.join(AGGREGATIONS)}")
    value = float(rules[aggregation]())
    label = "weighted mean" if aggregation == "weighted" else aggregation
    passes = value > threshold
    return value, passes, f"{label} {value:.2f} {'>' if passes else '<='} {threshold:g}"


def judge(
    scores: Sequence[int | float | None],
    *,
    threshold: float = 3.0,
    min_valid: int = 1,
    gold_ok: bool | None = None,
    require_gold: bool = False,
    review_enabled: bool = True,
    parsed: bool = True,
    aggregation: str = "mean",
    weights: Sequence[float] | None = None,
) -> Verdict:
    """Accept a rationale when its valid scores pass the `aggregation` rule against `threshold`.

    mean (the paper: mean > 3), median > threshold, min > threshold (every score above), majority (more
    than half of the valid scores above the threshold), weighted (the mean weighted by `weights`, one per
    score, e.g. each reviewer's `reviewer_reliability`; an invalid score's weight is dropped with it).
    `gold_ok` is whether the rationale's own final answer matches the gold answer (None: unknown); with
    `require_gold` a rationale must also reach the gold answer. With `review_enabled=False` every rationale
    with a text is accepted (the paper's no-review ablation), subject to the gold check when required.
    """
    if weights is not None and len(weights) != len(scores):
        raise ValueError(f"judge: {len(weights)} weights for {len(scores)} scores")
    w = [1.0] * len(scores) if weights is None else list(weights)
    pairs = [(float(s), w[i]) for i, s in enumerate(scores) if s is not None and MIN_SCORE <= s <= MAX_SCORE]
    kept = [s for s, _ in pairs]
    mean = sum(kept) / len(kept) if kept else None
    if not parsed:
        return Verdict(len(kept), mean, gold_ok, False, "no rationale text")
    if require_gold and gold_ok is not True:
        return Verdict(len(kept), mean, gold_ok, False, "final answer does not match gold")
    if not review_enabled:
        return Verdict(len(kept), mean, gold_ok, True, "review off")
    if not kept or len(kept) < min_valid:
        return Verdict(len(kept), mean, gold_ok, False, f"{len(kept)} valid scores < {max(1, min_valid)}")
    value, passes, reason = _combine(kept, [x for _, x in pairs], aggregation, threshold)
    return Verdict(len(kept), mean, gold_ok, passes, reason, value)


@dataclass(frozen=True)
class Reliability:
    """A reviewer's agreement with the gold check: `agree` of `n` valid reviews of gold-checked rationales
    had accept (score > threshold) == gold_ok; `weight` = (agree + prior/2) / (n + prior)."""

    reviewer: str
    agree: int
    n: int
    weight: float


def reviewer_reliability(
    rationales: Sequence[Mapping[str, Any]],
    reviews: Sequence[Mapping[str, Any]],
    threshold: float = 3.0,
    prior: int = RELIABILITY_PRIOR,
) -> dict[str, Reliability]:
    """Each reviewer's reliability in this round, for `aggregation: weighted`.

    Over the reviewer's valid (1..5) scores of rationales whose gold check is known (`gold_ok` not None):
    `agree` counts the scores whose verdict (score > threshold) equals `gold_ok`. The weight is that rate
    smoothed towards 0.5 by `prior` pseudo-reviews (a Beta(prior/2, prior/2) prior's posterior mean):
    a reviewer with no gold-checked review weighs 0.5, one with 10 of 10 weighs 0.75, 100 of 100: 0.95.
    """
    gold = {(r["example_id"], r["teacher"]): r.get("gold_ok") for r in rationales}
    agree: dict[str, int] = {}
    seen: dict[str, int] = {}
    for review in reviews:
        name = review["reviewer"]
        agree.setdefault(name, 0)
        seen.setdefault(name, 0)
        score = review.get("score")
        ok = gold.get((review["example_id"], review["author"]))
        if score is None or not MIN_SCORE <= score <= MAX_SCORE or ok is None:
            continue
        seen[name] += 1
        agree[name] += (score > threshold) == bool(ok)
    return {
        name: Reliability(name, agree[name], seen[name], (agree[name] + prior / 2) / (seen[name] + prior))
        for name in sorted(seen)
    }


def select_rationales(
    rationales: Sequence[dict],
    reviews: Sequence[dict],
    *,
    threshold: float = 3.0,
    min_valid: int = 1,
    require_gold: bool = False,
    review_enabled: bool = True,
    aggregation: str = "mean",
) -> list[dict]:
    """Acceptance rows (example_id, teacher, n_valid, mean_score, gold_ok, accepted, reason) for every
    rationale row, from the review rows (example_id, author, reviewer, score); scores combined by
    `aggregation` (weighted: by `reviewer_reliability` measured on these same rows)."""
    if aggregation not in AGGREGATIONS:
        raise ValueError(f"review.aggregation {aggregation!r}: use one of {', '.join(AGGREGATIONS)}")
    weight = {}
    if aggregation == "weighted":
        weight = {n: r.weight for n, r in reviewer_reliability(rationales, reviews, threshold).items()}
    scores: dict[tuple[str, str], list[int | None]] = {}
    weights: dict[tuple[str, str], list[float]] = {}
    for review in reviews:
        key = (review["example_id"], review["author"])
        scores.setdefault(key, []).append(review["score"])
        weights.setdefault(key, []).append(weight.get(review["reviewer"], 0.5))
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
            aggregation=aggregation,
            weights=weights.get(key, []) if aggregation == "weighted" else None,
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
    plan: ReviewPlan | None = None,
) -> list[PlannedCall]:
    """The reviewer grades every other teacher's rationale (never its own); with a `plan`, only those
    it is assigned to (`plan.per_rationale`), naming their authors when `plan.authors` has them."""
    planned = []
    for row in rationales:
        if row["teacher"] == reviewer.name or not row.get("text"):
            continue
        if plan is not None and plan.per_rationale is not None:
            chosen = assigned_reviewers(row["example_id"], row["teacher"], plan.committee, plan.per_rationale)
            if reviewer.name not in chosen:
                continue
        example = examples[row["example_id"]]
        author = plan.author_label(row["teacher"]) if plan is not None else None
        messages = prompts.review(example, row["text"], author)
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
