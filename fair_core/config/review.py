"""Peer-review settings: on/off, the acceptance threshold, valid scores needed, the gold check."""

from __future__ import annotations

from pydantic import Field, field_validator

from fair_core.config.base import Section


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
        "(nobody reviews their own rationale).",
    )
    gold_check: bool = Field(False, description="Also require the rationale's final answer to match gold.")

    @field_validator("threshold")
    @classmethod
    def _reachable(cls, value: float) -> float:
        if not 1 <= value < 5:
            raise ValueError(
                f"{value:g} cannot work: scores are 1-5 and a rationale is accepted when the mean of its "
                "valid scores is above the threshold; use a value from 1 up to (not including) 5"
            )
        return value
