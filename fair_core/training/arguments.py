"""transformers' TrainingArguments from training settings: optimizer (checked before training), learning-rate
schedule, regularisation, and the optimizer steps a training set will take."""

from __future__ import annotations

import importlib.util
import math
from typing import Any

from fair_core.config import TrainingConfig

#: training.optimizer values that need bitsandbytes and a CUDA GPU.
BITSANDBYTES_OPTIMIZERS = frozenset({"paged_adamw_32bit"})


def check_optimizer(cfg: TrainingConfig, cuda: bool | None = None) -> None:
    """Raise ValueError (one line: the setting and the fix) when training.optimizer cannot run here.

    paged_adamw_32bit needs the bitsandbytes package and a CUDA GPU. There is no fallback: another
    optimizer would silently train a different model than the one configured. Called by `train_student`
    before the model is loaded; a preflight can call it too."""
    if cfg.optimizer not in BITSANDBYTES_OPTIMIZERS:
        return
    if importlib.util.find_spec("bitsandbytes") is None:
        raise ValueError(
            f"training.optimizer={cfg.optimizer} needs the bitsandbytes package: pip install bitsandbytes, "
            "or use training.optimizer=adamw_torch"
        )
    if cuda is None:
        import torch

        cuda = torch.cuda.is_available()
    if not cuda:
        raise ValueError(
            f"training.optimizer={cfg.optimizer} needs a CUDA GPU and none is available; "
            "use training.optimizer=adamw_torch"
        )


def scheduler_name(cfg: TrainingConfig) -> str:
    """transformers' lr_scheduler_type: a constant rate keeps a warm-up only when warmup_ratio asks for one
    (the paper code's constant schedule ignores its warm-up: warmup_ratio 0 reproduces it)."""
    if cfg.lr_scheduler == "constant":
        return "constant_with_warmup" if cfg.warmup_ratio > 0 else "constant"
    return cfg.lr_scheduler


def planned_steps(units: int, cfg: TrainingConfig, world_size: int = 1) -> int:
    """Optimizer steps Trainer takes for `units` batch units (samples, or questions with batch_unit=pair):
    per epoch ceil(batches / grad_accum) with batches = ceil(units / (batch_size x world_size)) per
    process, at least 1; in all ceil(epochs x that)."""
    batches = math.ceil(units / (cfg.batch_size * max(world_size, 1)))
    per_epoch = max(math.ceil(batches / cfg.grad_accum), 1)
    return math.ceil(cfg.epochs * per_epoch)


def training_arguments(
    cfg: TrainingConfig,
    output_dir: str,
    *,
    seed: int,
    precision: str,
    cuda: bool,
    world_size: int,
    evaluate: bool,
    resume: bool,
) -> Any:
    """The TrainingArguments of a run (checkpoints in `output_dir`)."""
    from transformers import TrainingArguments

    return TrainingArguments(
        output_dir=output_dir,
        per_device_train_batch_size=cfg.batch_size,
        per_device_eval_batch_size=cfg.batch_size,
        gradient_accumulation_steps=cfg.grad_accum,
        learning_rate=cfg.learning_rate,
        num_train_epochs=cfg.epochs,
        warmup_steps=float(cfg.warmup_ratio),  # a float in [0, 1) is a share of the total steps
        lr_scheduler_type=scheduler_name(cfg),
        weight_decay=cfg.weight_decay,
        max_grad_norm=cfg.max_grad_norm,
        optim=cfg.optimizer,
        logging_strategy="steps",
        logging_steps=1,
        save_strategy="steps",
        save_steps=cfg.save_steps,
        save_total_limit=2,
        eval_strategy="epoch" if evaluate else "no",
        eval_on_start=evaluate and not resume,  # a resumed run has step 0's in its restored history
        prediction_loss_only=True,
        label_names=["labels"],
        seed=seed,
        data_seed=seed,
        bf16=precision == "bf16",
        fp16=precision == "fp16",
        activation_checkpointing=cfg.gradient_checkpointing,
        activation_checkpointing_kwargs={"use_reentrant": False} if cfg.gradient_checkpointing else None,
        use_cpu=not cuda,
        ddp_backend="gloo" if world_size > 1 and not cuda else None,
        ddp_find_unused_parameters=False,  # LoRA and full fine-tuning use every trainable weight
        train_sampling_strategy="random" if cfg.batching == "padded" else "group_by_length",
        length_column_name="length",
        remove_unused_columns=False,
        dataloader_pin_memory=cuda,
        report_to="none",
        disable_tqdm=True,
    )
