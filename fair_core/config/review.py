"""Peer-review settings: on/off, the acceptance threshold, valid scores needed, the gold check."""

from __future__ import annotations

from pydantic import Field

from fair_core.config.base import Section


class ReviewConfig(Section):
    enabled: bool = Field(True, description="Peer review on; off keeps every parsed rationale.")
    threshold: float = Field(3.0, description="Accept a rationale when its mean valid score is above this.")
    min_valid_scores: int = Field(1, ge=1, description="Fewest valid (1..5) scores needed to accept.")
    gold_check: bool = Field(False, description="Also require the rationale's final answer to match gold.")
