"""Evaluation settings: baseline, the prompt layout, decoding (greedy or sampled) and its budget and seed."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from fair_core.config.base import Section


class EvaluationConfig(Section):
    enabled: bool = Field(True, description="Evaluate each new student on the test split.")
    baseline: bool = Field(True, description="Also evaluate the starting student before round 0.")
    prompt: Literal["student", "training"] = Field(
        "student",
        description="How the test questions are asked: 'student', the bare student prompt (as the training "
        "split is answered); 'training', the layout of training.rationale_prompt, built by the same prompt "
        "builder as the training samples, so the student sees the very text it was trained on (the paper "
        "code). Applies to the baseline and every round's evaluation.",
    )
    max_new_tokens: int | None = Field(None, ge=1, description="Generation budget (empty: the student's).")
    greedy: bool = Field(
        True,
        description="Greedy decoding (deterministic); off samples with the run seed. The test split "
        "ignores it when `seeds` is set.",
    )
    temperature: float = Field(0.7, gt=0, description="Temperature when not greedy.")
    top_p: float = Field(1.0, gt=0, le=1, description="Nucleus sampling share when not greedy.")
    seed: int | None = Field(
        None, description="Seed of sampled runs (empty: run.seed); the same seed gives the same answers."
    )
    seeds: list[int] = Field(
        default_factory=list,
        description="Sampled evaluation (temperature, top_p; `greedy` is ignored) repeated once per seed, "
        "e.g. [0, 1, 2] (the paper code samples at temperature 0.3, top_p 0.9): the first "
        "seed's answers are the `evaluation` table as usual; every seed's are also kept in "
        "`evaluation_seeds` (the baseline's in `baseline_evaluation_seeds`), one part per seed, and the "
        "accuracy table gets their mean and spread. Empty: one run with `seed`.",
    )

    @model_validator(mode="after")
    def _seeds_once(self) -> EvaluationConfig:
        if len(set(self.seeds)) != len(self.seeds):
            raise ValueError(f"evaluation.seeds {self.seeds}: each seed once")
        return self
