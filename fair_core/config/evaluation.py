"""Evaluation settings: baseline, decoding (greedy or sampled) and its budget and seed."""

from __future__ import annotations

from pydantic import Field

from fair_core.config.base import Section


class EvaluationConfig(Section):
    enabled: bool = Field(True, description="Evaluate each new student on the test split.")
    baseline: bool = Field(True, description="Also evaluate the starting student before round 0.")
    max_new_tokens: int | None = Field(None, ge=1, description="Generation budget (empty: the student's).")
    greedy: bool = Field(True, description="Greedy decoding (deterministic); off samples with the run seed.")
    temperature: float = Field(0.7, gt=0, description="Temperature when not greedy.")
    top_p: float = Field(1.0, gt=0, le=1, description="Nucleus sampling share when not greedy.")
    seed: int | None = Field(
        None, description="Seed of sampled runs (empty: run.seed); the same seed gives the same answers."
    )
