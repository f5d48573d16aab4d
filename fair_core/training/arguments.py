"""transformers' TrainingArguments from training settings: optimizer and trackers (checked before training),
learning-rate schedule, regularisation, and the optimizer steps a training set will take."""

from __future__ import annotations

import importlib.util
import math
from typing import Any

from fair_core.config import TrainingConfig

#: training.optimizer values that need bitsandbytes and a CUDA GPU.
BITSANDBYTES_OPTIMIZERS = frozenset({"paged_adamw_32bit"})

#: training.report_to backend -> (the modules it needs, any one of each tuple; what to pip install).
TRACKER_PACKAGES: dict[str, tuple[tuple[tuple[str, ...], ...], str]] = {
    "azure_ml": ((("azureml.core.run",),), "azureml-core"),
    "clearml": ((("clearml",),), "clearml"),
    "codecarbon": ((("codecarbon",),), "codecarbon"),
    "comet_ml": ((("comet_ml",),), "comet-ml"),
    "dagshub": ((("dagshub",), ("mlflow",)), "dagshub mlflow"),
    "dvclive": ((("dvclive",),), "dvclive"),
    "flyte": ((("flytekit",),), "flytekit"),
    "kubeflow": ((("kubeflow",),), "kubeflow"),
    "mlflow": ((("mlflow",),), "mlflow"),
    "neptune": ((("neptune",),), "neptune"),
    "swanlab": ((("swanlab",),), "swanlab"),
    "tensorboard": ((("tensorboard", "tensorboardX"),), "'fair-distill[tracking]'"),
    "trackio": ((("trackio",),), "trackio"),
    "wandb": ((("wandb",),), "wandb"),
}


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


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # a parent package missing, or a half-installed one
        return False


def check_report_to(cfg: TrainingConfig) -> None:
    """Raise ValueError (one line: the backend, its package and how to install it) when a training.report_to
    backend's package is not installed. Called by `train_student` before the model is loaded, and by the
    preflight."""
    for backend in cfg.report_to:
        needs, install = TRACKER_PACKAGES[backend]
        missing = [names[0] for names in needs if not any(_installed(m) for m in names)]
        if missing:
            raise ValueError(
                f"training.report_to: {backend} needs the {missing[0].split('.')[0]} package "
                f"(pip install {install}), or remove {backend} from training.report_to"
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
    run_name: str | None = None,
) -> Any:
    """The TrainingArguments of a run (checkpoints in `output_dir`; `run_name` names the trackers' run)."""
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
        report_to=list(cfg.report_to) or "none",
        run_name=run_name,
        disable_tqdm=True,
    )
