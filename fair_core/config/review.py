"""Peer-review settings: on/off, the acceptance threshold, valid scores needed, the gold check, and the
reviewer controls (how scores are combined, how many reviewers per rationale, whether authors are named)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from fair_core.config.base import Section

#: How a rationale's valid scores are combined before the threshold (`review.aggregation`).
Aggregation = Literal["mean", "median", "min", "majority", "weighted"]


class ReviewConfig(Section):
    enabled: bool = Field(True, description="Peer review on; off keeps every parsed rationale.")
    threshold: float = Field(
        3.0,
        description="Accept a rationale when the mean of its valid scores (1..5) is above this; at least 1 "
        "and below 5, or nothing (or everything) would be accepted.",
    )
    min_valid_scores: int = Field(
        1,
        ge=1,
        description="Fewest valid (1..5) scores needed to accept; at most the number of teachers minus one "
        "(nobody reviews their own rationale), and at most reviewers_per_rationale when that is set.",
    )
    gold_check: bool = Field(False, description="Also require the rationale's final answer to match gold.")
    aggregation: Aggregation = Field(
        "mean",
        description="How a rationale's valid scores are combined and compared with the threshold: mean (the "
        "paper: mean > threshold), median (median > threshold), min (every score > threshold), majority "
        "(more than half of the scores > threshold), weighted (mean weighted by each reviewer's reliability "
        "measured in the same round: how often its accept/reject agrees with the rationale's gold check, "
        "smoothed towards 0.5 by 10 pseudo-reviews; see fair_core.review.reviewer_reliability).",
    )
    reviewers_per_rationale: int | None = Field(
        None,
        ge=1,
        description="Reviewers per rationale: unset = every other teacher (the paper); k = k of the other "
        "teachers, chosen per rationale by a stable hash of example id, author and reviewer (never the "
        "author; the same choice in every run and sweep variant). At most the number of teachers minus one.",
    )
    show_author: bool = Field(
        False,
        description="Name the author teacher (name and model) in the review prompt. Off (the paper): "
        "reviewers are not told who wrote a rationale (its style may still show it).",
    )

    @field_validator("threshold")
    @classmethod
    def _reachable(cls, value: float) -> float:
        if not 1 <= value < 5:
            raise ValueError(
                f"{value:g} cannot work: scores are 1-5 and a rationale is accepted when the mean of its "
                "valid scores is above the threshold; use a value from 1 up to (not including) 5"
            )
        return value

    def committee_problem(self, teachers: int) -> str | None:
        """Why these settings cannot work with `teachers` teachers (None: they can, or review is off)."""
        if not self.enabled:
            return None
        most = teachers - 1
        k = self.reviewers_per_rationale
        if k is not None and k > most:
            return (
                f"review.reviewers_per_rationale: {k} reviewers per rationale cannot be found among "
                f"{teachers} teachers (nobody reviews their own rationale): set it to {most} or less, or "
                "unset it for every other teacher"
            )
        if self.min_valid_scores > (k if k is not None else most):
            if k is not None:
                return (
                    f"review.min_valid_scores: {self.min_valid_scores} can never be reached with "
                    f"review.reviewers_per_rationale {k}: set it to {k} or less"
                )
            return (
                f"review.min_valid_scores: {self.min_valid_scores} can never be reached with "
                f"{teachers} teachers (each rationale gets at most {most} reviews, nobody reviews "
                f"their own): set it to {most} or less"
            )
        return None
