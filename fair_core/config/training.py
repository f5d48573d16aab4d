"""Training settings: the two-task set and its ablations, LoRA or full fine-tuning, batching, precision,
validation, distributed launch and checkpoints."""

from __future__ import annotations

from typing import Any, Literal, get_args

from pydantic import Field, field_validator

from fair_core.config.base import Section

#: transformers' reporting integrations (`INTEGRATION_TO_CALLBACK`; a test keeps the two the same).
ReportBackend = Literal[
    "azure_ml",
    "clearml",
    "codecarbon",
    "comet_ml",
    "dagshub",
    "dvclive",
    "flyte",
    "kubeflow",
    "mlflow",
    "neptune",
    "swanlab",
    "tensorboard",
    "trackio",
    "wandb",
]
REPORT_BACKENDS: tuple[str, ...] = get_args(ReportBackend)


class TrainingConfig(Section):
    method: Literal["lora", "full"] = Field("lora", description="LoRA adapter or full fine-tuning.")
    # --- the training set (the paper's ablations; see README, "Training-set switches") ------------------
    alpha: float = Field(
        0.5, ge=0, le=1, description="Loss = alpha * L_feedback + (1 - alpha) * L_rationale."
    )
    use_feedback: bool = Field(True, description="Include the learn-from-own-mistakes (feedback) task.")
    rationales_per_question: Literal["one", "all"] = Field(
        "one", description="'one': one accepted rationale sampled per question (paper); 'all': every one."
    )
    teachers: list[str] | None = Field(
        None,
        description="Teachers whose rationales AND feedback are learned from. Empty: the mixed committee "
        "(paper); e.g. [gpt]: a one-teacher ablation (the others still review).",
    )
    feedback_without_rationale: Literal["keep", "drop"] = Field(
        "keep",
        description="A mistake with no rationale to learn from: 'keep' its feedback samples; 'drop' the "
        "question from both tasks (the paper code: it trains only on questions with both).",
    )
    single_teacher_review: Literal["keep", "skip"] = Field(
        "keep",
        description="With `teachers` set: 'keep' only the rationales the committee's review accepted; 'skip' "
        "the review and learn from every parsed rationale of those teachers (the paper code's one-teacher "
        "ablation). Ignored with the whole committee.",
    )
    data: Literal["round", "cumulative"] = Field(
        "round",
        description="'round': this round's samples only (paper); 'cumulative': plus every earlier round's "
        "of the run, deduplicated, with the alpha weights recomputed over the union.",
    )
    rationale_prompt: Literal["instruction", "student"] = Field(
        "instruction",
        description="Prompt of the rationale task: the paper's instruction/input/response layout, "
        "or the student's own inference prompt.",
    )
    # --- optimisation -------------------------------------------------------------------------------
    learning_rate: float = Field(1e-5, gt=0, description="Peak learning rate.")
    epochs: float = Field(10, gt=0, description="Passes over the training set.")
    batch_size: int = Field(
        8,
        ge=1,
        description="Batch units per device step (global batch = this x grad_accum x num_processes); "
        "a unit is a sample or a question's pair, see batch_unit.",
    )
    batch_unit: Literal["sample", "pair"] = Field(
        "sample",
        description="'sample': batches of samples drawn across both tasks; 'pair': batches of questions, "
        "each with all its samples (its feedback and its rationale: the paper code), so an epoch takes "
        "about half the optimizer steps.",
    )
    grad_accum: int = Field(2, ge=1, description="Gradient accumulation steps.")
    max_length: int = Field(512, ge=16, description="Longest tokenized sample; longer ones are truncated.")
    warmup_ratio: float = Field(0.0, ge=0, lt=1, description="Linear warm-up share of the steps.")
    lr_scheduler: Literal["constant", "linear", "cosine"] = Field(
        "linear",
        description="Learning-rate schedule after the warm-up: constant (the paper code; its warm-up "
        "setting has no effect there, use warmup_ratio 0 to match), linear decay to 0, or cosine.",
    )
    weight_decay: float = Field(0.0, ge=0, description="AdamW weight decay (the paper code: 0.01).")
    max_grad_norm: float = Field(
        1.0, gt=0, description="Gradient clipping: largest global gradient norm (the paper code: 0.3)."
    )
    optimizer: Literal["adamw_torch", "paged_adamw_32bit"] = Field(
        "adamw_torch",
        description="adamw_torch, or paged_adamw_32bit (the paper code; needs the bitsandbytes package and "
        "a CUDA GPU, checked before training: there is no silent fallback).",
    )
    loss_reduction: Literal["sample", "token"] = Field(
        "sample",
        description="How a batch averages each task's completion tokens: 'sample': mean per sample, then "
        "over samples (every sample weighs the same); 'token': mean over all the task's tokens in the batch "
        "(the paper code; long completions weigh more). alpha weighs the two tasks in both.",
    )
    batching: Literal["length_grouped", "packed", "padded"] = Field(
        "length_grouped",
        description="'length_grouped': batches of similar lengths, each padded to its longest; 'packed': the "
        "same batches packed into balanced rows of up to max_length tokens, attention kept within a sample "
        "(position ids restart; checked on the model before training); 'padded': every sample padded to "
        "max_length (the paper code). Samples per step, steps and loss are the same in all three.",
    )
    validation_fraction: float = Field(
        0.0,
        ge=0,
        le=0.5,
        description="Share of questions held out (all their samples together) for a validation loss, "
        "measured before training and after every epoch. 0: no validation (paper).",
    )
    precision: Literal["auto", "fp32", "bf16", "fp16"] = Field(
        "auto",
        description="Mixed precision: auto = bf16 on a GPU that has it, fp16 on an older GPU, fp32 on CPU. "
        "fp16 needs a CUDA GPU; bf16 a GPU with bf16 (or the CPU, slowly).",
    )
    gradient_checkpointing: bool = Field(
        False, description="Recompute activations in the backward pass: less memory, about 30% slower."
    )
    # --- LoRA ---------------------------------------------------------------------------------------
    lora_r: int = Field(8, ge=1, description="LoRA rank.")
    lora_alpha: int = Field(16, ge=1, description="LoRA scaling numerator.")
    lora_dropout: float = Field(0.05, ge=0, lt=1, description="LoRA dropout.")
    target_modules: list[str] = Field(
        default_factory=lambda: ["q_proj", "k_proj", "v_proj", "o_proj"], description="Modules given LoRA."
    )
    # --- distributed, checkpoints, seed ---------------------------------------------------------------
    num_processes: int = Field(
        1, ge=1, description="Training processes (GPUs, or CPU processes with gloo); > 1 uses accelerate."
    )
    distributed: Literal["ddp", "fsdp", "deepspeed"] = Field(
        "ddp",
        description="Strategy when num_processes > 1: picks deployments/accelerate/<ddp|fsdp|"
        "deepspeed-zero2>.yaml unless accelerate_config is given.",
    )
    accelerate_config: str | None = Field(
        None, description="An `accelerate launch` config file (multi-node, ZeRO-3); overrides distributed."
    )
    save_steps: int = Field(50, ge=1, description="Checkpoint every N optimizer steps (for resume).")
    seed: int | None = Field(None, description="Training seed (empty: the run seed).")
    # --- experiment tracking (not part of the run id) -------------------------------------------------
    report_to: list[ReportBackend] = Field(
        default_factory=list,
        title="Experiment trackers (report_to)",
        description="Experiment trackers that get the training metrics (transformers' report_to: "
        "tensorboard, mlflow, wandb, trackio, ...) and each round's accuracy, acceptance and cost; "
        "TensorBoard logs go to runs/<run id>/tracking/round=<k>/. Empty: none.",
    )

    @field_validator("report_to", mode="before")
    @classmethod
    def _known_backends(cls, value: Any) -> Any:
        names = [value] if isinstance(value, str) else value
        if isinstance(names, list | tuple):
            names = [n for n in names if n != "none"]  # transformers' word for no tracking
            unknown = [n for n in names if n not in REPORT_BACKENDS]
            if unknown:
                raise ValueError(
                    f"unknown backend {unknown[0]!r}; valid: {', '.join(REPORT_BACKENDS)} (empty: none)"
                )
            return list(dict.fromkeys(names))
        return value

    @field_validator("teachers")
    @classmethod
    def _some_teachers(cls, value: list[str] | None) -> list[str] | None:
        if value is not None and not value:
            raise ValueError("give at least one teacher name, or leave it empty for the whole committee")
        return value
