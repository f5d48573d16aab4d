"""Who reviews what: the reviewer controls `review.reviewers_per_rationale` and `review.show_author` as a
plan (deterministic reviewer choice per rationale, the author labels), and the review switches as the round
manifest records them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from fair_core.config import ReviewConfig, TeacherConfig
from fair_core.hashing import stable_hash


@dataclass(frozen=True)
class ReviewPlan:
    """Who reviews what, beyond the paper's "every other teacher, author unnamed" (`review_plan`).

    `committee`: every reviewer's name; `per_rationale`: k reviewers per rationale (None: all others);
    `authors`: (teacher name, label shown to reviewers) pairs, empty when authors are hidden."""

    committee: tuple[str, ...] = ()
    per_rationale: int | None = None
    authors: tuple[tuple[str, str], ...] = ()

    def author_label(self, teacher: str) -> str | None:
        return dict(self.authors).get(teacher)


def review_plan(review: ReviewConfig, teachers: Sequence[TeacherConfig]) -> ReviewPlan | None:
    """The plan of `review`'s reviewer controls for this committee; None for the paper's (every other
    teacher reviews, authors hidden), so variants differing in other review settings share review tasks."""
    if review.reviewers_per_rationale is None and not review.show_author:
        return None
    authors = tuple((t.name, author_label(t)) for t in teachers) if review.show_author else ()
    return ReviewPlan(tuple(t.name for t in teachers), review.reviewers_per_rationale, authors)


def author_label(teacher: TeacherConfig) -> str:
    """How a reviewer is told who wrote a rationale (`review.show_author`): "gpt (model gpt-3.5-turbo)"."""
    return f"{teacher.name} (model {teacher.model})"


def assigned_reviewers(example_id: str, author: str, committee: Sequence[str], k: int | None) -> list[str]:
    """The reviewers of one rationale: every other teacher (k None or k >= their number), else the k with
    the smallest stable hash of (example id, author, reviewer) -- rendezvous hashing: deterministic, never
    the author, and a teacher added to or left out of the committee changes only the choices it wins."""
    others = [t for t in dict.fromkeys(committee) if t != author]
    if k is None or k >= len(others):
        return others
    return sorted(others, key=lambda r: (stable_hash(["review", example_id, author, r]), r))[:k]


def review_settings(review: ReviewConfig) -> dict[str, Any]:
    """The review switches as the round manifest records them."""
    return {
        "peer_review": review.enabled,
        "review_threshold": review.threshold,
        "min_valid_scores": review.min_valid_scores,
        "gold_check": review.gold_check,
        "aggregation": review.aggregation,
        "reviewers_per_rationale": review.reviewers_per_rationale or "all others",
        "show_author": review.show_author,
    }
