"""Training settings: the two-task set, LoRA or full fine-tuning, optimiser and checkpoints."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from fair_core.config.base import Section


class TrainingConfig(Section):
    method: Literal["lora", "full"] = Field("lora", description="LoRA adapter or full fine-tuning.")
    alpha: float = Field(
        0.5, ge=0, le=1, description="Loss = alpha * L_feedback + (1 - alpha) * L_rationale."
    )
    use_feedback: bool = Field(True, description="Include the learn-from-own-mistakes (feedback) task.")
    rationales_per_question: Literal["one", "all"] = Field(
        "one", description="'one': one accepted rationale sampled per question (paper); 'all': every one."
    )
    rationale_prompt: Literal["instruction", "student"] = Field(
        "instruction",
        description="Prompt of the rationale task: the paper's instruction/input/response layout, "
        "or the student's own inference prompt.",
    )
    learning_rate: float = Field(1e-5, gt=0, description="Peak learning rate.")
    epochs: float = Field(10, gt=0, description="Passes over the training set.")
    batch_size: int = Field(8, ge=1, description="Samples per device step.")
    grad_accum: int = Field(2, ge=1, description="Gradient accumulation steps.")
    max_length: int = Field(512, ge=16, description="Longest tokenized sample; longer ones are truncated.")
    warmup_ratio: float = Field(0.0, ge=0, lt=1, description="Linear warm-up share of the steps.")
    lora_r: int = Field(8, ge=1, description="LoRA rank.")
    lora_alpha: int = Field(16, ge=1, description="LoRA scaling numerator.")
    lora_dropout: float = Field(0.05, ge=0, lt=1, description="LoRA dropout.")
    target_modules: list[str] = Field(
        default_factory=lambda: ["q_proj", "k_proj", "v_proj", "o_proj"], description="Modules given LoRA."
    )
    save_steps: int = Field(50, ge=1, description="Checkpoint every N optimizer steps (for resume).")
    seed: int | None = Field(None, description="Training seed (empty: the run seed).")
