"""What is written beside a trained student: the model card (README.md) and the loss curve (loss.png)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from fair_core.config import TrainingConfig

CARD_FILE = "README.md"
PLOT_FILE = "loss.png"


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value) or "-"
    return str(value)


def _table(rows: Mapping[str, Any]) -> list[str]:
    return ["| | |", "|---|---|", *(f"| {key} | {_fmt(value)} |" for key, value in rows.items())]


def model_card(record: Mapping[str, Any], cfg: TrainingConfig, info: Mapping[str, Any]) -> str:
    """Markdown model card. `record`: the training record (train_result.json); `info`: what the caller
    knows beyond the trainer: title, base_model, round, settings (the training-set switches) and data
    (the training set's counts)."""
    method = "LoRA adapter" if cfg.method == "lora" else "full fine-tune"
    base = info.get("base_model", "the base model")
    evals = record.get("eval_losses") or []
    where = f", round {info['round']}" if info.get("round") is not None else ""
    world = record.get("world_size", 1)
    lines = [
        f"# {info.get('title', 'FAIR student')}",
        "",
        f"A {method} of `{base}` trained by FAIR (learning from a committee of teachers, arXiv 2410.03663)"
        f"{where}: learn from the gold rationale"
        " and learn from your own mistakes, loss alpha x L_feedback + (1 - alpha) x L_rationale, prompt and"
        " padding masked.",
        "",
    ]
    if cfg.method == "lora":
        lines += [
            "Load it with `PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained("
            f"{str(base)!r}), <this folder>)`.",
            "",
        ]
    lines += ["## Training-set settings", "", *_table(info.get("settings") or {}), ""]
    data = {
        "training samples": record.get("num_samples"),
        "validation samples": record.get("num_validation_samples"),
        "training questions": record.get("train_questions"),
        "validation questions": record.get("validation_questions"),
        "dropped (prompt fills max_length)": record.get("dropped"),
        "truncated completions": record.get("truncated"),
        **dict(info.get("data") or {}),
    }
    lines += ["## Data", "", *_table(data), ""]
    hyper = {
        "method": cfg.method,
        "learning rate": cfg.learning_rate,
        "epochs": cfg.epochs,
        "batch size x grad accum x processes": f"{cfg.batch_size} x {cfg.grad_accum} x {world}",
        "batch unit": cfg.batch_unit,
        "max length": cfg.max_length,
        "warm-up ratio": cfg.warmup_ratio,
        "learning-rate schedule": cfg.lr_scheduler,
        "optimizer / weight decay / max grad norm": (
            f"{cfg.optimizer} / {cfg.weight_decay} / {cfg.max_grad_norm}"
        ),
        "loss reduction": cfg.loss_reduction,
        "batching": cfg.batching,
        "precision": record.get("precision"),
        "gradient checkpointing": cfg.gradient_checkpointing,
        "seed": record.get("seed"),
    }
    if cfg.method == "lora":
        hyper |= {"LoRA r / alpha / dropout": f"{cfg.lora_r} / {cfg.lora_alpha} / {cfg.lora_dropout}"}
        hyper |= {"LoRA target modules": cfg.target_modules}
    lines += ["## Hyper-parameters", "", *_table(hyper), ""]
    results = {
        "optimizer steps": record.get("steps"),
        "final train loss (last epoch mean)": record.get("final_train_loss"),
        "validation loss before training": evals[0][1] if evals and evals[0][0] == 0 else None,
        "validation loss after training": evals[-1][1] if evals else None,
        "padding share of the computed tokens": record.get("padding_fraction"),
        "training seconds (this run)": record.get("train_seconds"),
        "resumed from": record.get("resumed_from"),
    }
    lines += ["## Results", "", *_table(results), "", f"![loss curve]({PLOT_FILE})", ""]
    return "\n".join(lines)


def plot_losses(
    path: Path,
    losses: Sequence[tuple[int, float]],
    eval_losses: Sequence[tuple[int, float]] = (),
    title: str = "training loss",
) -> Path:
    """A PNG of the per-step training loss and the validation loss points (matplotlib, Agg, no pyplot)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(6.4, 4.0), dpi=100)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    if losses:
        axes.plot([s for s, _ in losses], [v for _, v in losses], label="train loss", linewidth=1)
    if eval_losses:
        axes.plot(
            [s for s, _ in eval_losses],
            [v for _, v in eval_losses],
            "o-",
            label="validation loss",
            linewidth=1.5,
        )
    axes.set_xlabel("optimizer step")
    axes.set_ylabel("weighted loss")
    axes.set_title(title)
    axes.grid(alpha=0.3)
    axes.legend()
    figure.tight_layout()
    figure.savefig(path, format="png")
    return path
