"""Fine-tunes the student (LoRA or full) on weighted completion-only samples with transformers' Trainer."""

from __future__ import annotations

import json
import re
import shutil
import tempfile
import warnings
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from transformers import PrinterCallback, Trainer, TrainerCallback

from fair_core.config import TrainingConfig
from fair_core.records import TrainSample
from fair_core.refs import TRAIN_RECORD
from fair_core.students.models import quiet_progress_bars
from fair_core.training.collate import IGNORE_INDEX, CompletionCollator, encode_samples

RESULT_FILE = TRAIN_RECORD  # beside the saved model: steps, losses, sample counts
_CHECKPOINT_RE = re.compile(r"^checkpoint-(\d+)$")


@dataclass
class TrainResult:
    """Where the trained student is and how training went.

    model_dir: a peft adapter folder (method lora; load it on top of the base model) or a full model folder
    (method full), with the tokenizer. train_loss: the mean of the logged per-step losses; losses: every
    (optimizer step, loss), earlier runs of a resumed training included. resumed_from: the checkpoint
    training resumed from, if any. reused: the model was already complete and nothing was trained.
    """

    model_dir: Path
    steps: int
    train_loss: float
    losses: list[tuple[int, float]] = field(default_factory=list)
    resumed_from: str | None = None
    method: str = "lora"
    num_samples: int = 0
    dropped: int = 0
    truncated: int = 0
    reused: bool = False


def weighted_completion_loss(
    logits: torch.Tensor, labels: torch.Tensor, weights: torch.Tensor
) -> torch.Tensor:
    """mean_i(weight_i * L_i), L_i = mean next-token cross-entropy over sample i's unmasked label tokens."""
    targets = labels[:, 1:]
    token_loss = torch.nn.functional.cross_entropy(
        logits[:, :-1].float().reshape(-1, logits.shape[-1]),
        targets.reshape(-1),
        ignore_index=IGNORE_INDEX,
        reduction="none",
    ).view(targets.shape)
    mask = targets.ne(IGNORE_INDEX)
    per_sample = (token_loss * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1)
    return (weights.to(per_sample.dtype) * per_sample).mean()


class WeightedCompletionTrainer(Trainer):
    """`Trainer` whose loss is `weighted_completion_loss`; the collator must provide labels and weights."""

    # A per-micro-batch mean: Trainer divides it by the gradient accumulation steps itself.
    loss_is_scaled_for_ga = False

    def compute_loss(
        self,
        model: torch.nn.Module,
        inputs: dict[str, Any],
        return_outputs: bool = False,
        num_items_in_batch: torch.Tensor | int | None = None,
    ) -> torch.Tensor | tuple[torch.Tensor, Any]:
        outputs = model(
            input_ids=inputs["input_ids"], attention_mask=inputs["attention_mask"], use_cache=False
        )
        loss = weighted_completion_loss(outputs.logits, inputs["labels"], inputs["weights"])
        return (loss, outputs) if return_outputs else loss


class _ProgressCallback(TrainerCallback):
    def __init__(self, progress: Callable[[dict[str, Any]], None]) -> None:
        self.progress = progress

    def on_log(
        self, args: Any, state: Any, control: Any, logs: dict[str, Any] | None = None, **kwargs: Any
    ) -> None:
        if logs and "loss" in logs:
            self.progress(
                {
                    "step": state.global_step,
                    "loss": float(logs["loss"]),
                    "learning_rate": logs.get("learning_rate"),
                    "epoch": logs.get("epoch", state.epoch),
                    "max_steps": state.max_steps,
                }
            )


class _ListDataset(torch.utils.data.Dataset):
    def __init__(self, rows: list[dict[str, Any]]) -> None:
        self.rows = rows

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, index: int) -> dict[str, Any]:
        return self.rows[index]


def latest_checkpoint(checkpoints_dir: Path) -> Path | None:
    """The newest complete Trainer checkpoint (it has trainer_state.json, written last); incomplete newer
    ones, left by a process killed while saving, are deleted."""
    if not checkpoints_dir.is_dir():
        return None
    found = sorted(
        ((int(m.group(1)), p) for p in checkpoints_dir.iterdir() if (m := _CHECKPOINT_RE.match(p.name))),
        reverse=True,
    )
    for _, path in found:
        if (path / "trainer_state.json").is_file():
            return path
        shutil.rmtree(path, ignore_errors=True)
    return None


def _load_finished(model_dir: Path) -> TrainResult | None:
    marker = model_dir / RESULT_FILE
    if not marker.is_file():
        return None
    data = json.loads(marker.read_text(encoding="utf-8"))
    data.update(model_dir=model_dir, losses=[tuple(x) for x in data["losses"]], reused=True)
    return TrainResult(**data)


def _load_model(base_model: Path, cfg: TrainingConfig, init_adapter: Path | None) -> Any:
    from transformers import AutoModelForCausalLM

    if cfg.method == "full":
        # A full model has no adapter: the previous round's full model is the starting point.
        source = init_adapter if init_adapter is not None else base_model
        return AutoModelForCausalLM.from_pretrained(str(source), dtype=torch.float32)
    from peft import LoraConfig, PeftModel, get_peft_model

    base = AutoModelForCausalLM.from_pretrained(str(base_model), dtype=torch.float32)
    if init_adapter is not None:
        return PeftModel.from_pretrained(base, str(init_adapter), is_trainable=True)
    lora = LoraConfig(
        r=cfg.lora_r,
        lora_alpha=cfg.lora_alpha,
        lora_dropout=cfg.lora_dropout,
        target_modules=list(cfg.target_modules),
        task_type="CAUSAL_LM",
    )
    return get_peft_model(base, lora)


def train_student(
    samples: Sequence[TrainSample],
    base_model: Path,
    output_dir: Path,
    cfg: TrainingConfig,
    *,
    chat_template: bool | None = None,
    system_prompt: str | None = None,
    init_adapter: Path | None = None,
    seed: int = 0,
    progress: Callable[[dict[str, Any]], None] | None = None,
    callbacks: Sequence[TrainerCallback] = (),
    keep_checkpoints: bool = False,
) -> TrainResult:
    """Fine-tune `base_model` on `samples`; the result is saved atomically to `output_dir/model`.

    Loss contract: each sample's loss L_i is its mean token cross-entropy over the completion (+ eos);
    a batch's loss is mean_i(weight_i * L_i). The caller precomputes the weights so that the expectation
    over batches is alpha * L_feedback + (1 - alpha) * L_rationale (e.g. weight = alpha * N / N_feedback on
    feedback samples and (1 - alpha) * N / N_rationale on rationale samples); nothing is reweighted here.

    Prompts are wrapped with the same `format_prompt` as inference (`chat_template`, `system_prompt`).
    method "lora": a new LoRA adapter from cfg, or, given `init_adapter` (the previous round's adapter),
    that adapter trained further (its own r/alpha/targets then apply). method "full": all weights, starting
    from `init_adapter` when given (then a full model folder), else `base_model`.

    Checkpoints go to `output_dir/checkpoints` every cfg.save_steps steps (the last 2 kept) and a later call
    resumes from the newest automatically. When `output_dir/model` is already complete it is returned
    (`reused=True`) without training. `progress` gets {"step", "loss", "learning_rate", "epoch",
    "max_steps"} after every optimizer step; `callbacks` are extra `TrainerCallback`s.
    """
    from transformers import AutoTokenizer, TrainingArguments, set_seed

    output_dir = Path(output_dir)
    final_dir = output_dir / "model"
    finished = _load_finished(final_dir)
    if finished is not None:
        return finished
    seed = cfg.seed if cfg.seed is not None else seed
    tokenizer = AutoTokenizer.from_pretrained(str(base_model))
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    encoded = encode_samples(samples, tokenizer, cfg.max_length, chat_template, system_prompt)
    if not encoded.features:
        raise ValueError(
            f"no trainable sample: all {len(samples)} prompts fill training.max_length={cfg.max_length} "
            "tokens, leaving no room for the completion; raise training.max_length"
        )

    set_seed(seed)  # the LoRA initialisation is drawn before Trainer seeds itself
    with quiet_progress_bars():
        model = _load_model(Path(base_model), cfg, init_adapter)
    checkpoints_dir = output_dir / "checkpoints"
    resume = latest_checkpoint(checkpoints_dir)
    cuda = torch.cuda.is_available()
    args = TrainingArguments(
        output_dir=str(checkpoints_dir),
        per_device_train_batch_size=cfg.batch_size,
        gradient_accumulation_steps=cfg.grad_accum,
        learning_rate=cfg.learning_rate,
        num_train_epochs=cfg.epochs,
        warmup_steps=float(cfg.warmup_ratio),  # a float in [0, 1) is a share of the total steps
        lr_scheduler_type="linear",
        logging_strategy="steps",
        logging_steps=1,
        save_strategy="steps",
        save_steps=cfg.save_steps,
        save_total_limit=2,
        seed=seed,
        data_seed=seed,
        bf16=cuda and torch.cuda.is_bf16_supported(),
        use_cpu=not cuda,
        train_sampling_strategy="group_by_length",
        length_column_name="length",
        remove_unused_columns=False,
        dataloader_pin_memory=cuda,
        report_to="none",
        disable_tqdm=True,
    )
    trainer = WeightedCompletionTrainer(
        model=model,
        args=args,
        train_dataset=_ListDataset(encoded.features),
        data_collator=CompletionCollator(pad_token_id=tokenizer.pad_token_id),
        processing_class=tokenizer,
        callbacks=[*([_ProgressCallback(progress)] if progress else []), *callbacks],
    )
    trainer.remove_callback(PrinterCallback)  # it prints every log dict when tqdm is disabled
    with warnings.catch_warnings():  # peft asks transformers a deprecated question on every step
        warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)
        trainer.train(resume_from_checkpoint=str(resume) if resume else None)

    losses = [(int(log["step"]), float(log["loss"])) for log in trainer.state.log_history if "loss" in log]
    result = TrainResult(
        model_dir=final_dir,
        steps=trainer.state.global_step,
        train_loss=sum(loss for _, loss in losses) / max(len(losses), 1),
        losses=losses,
        resumed_from=str(resume) if resume else None,
        method=cfg.method,
        num_samples=len(encoded.features),
        dropped=encoded.dropped,
        truncated=encoded.truncated,
    )
    _save_final(trainer.model, tokenizer, final_dir, result)
    if not keep_checkpoints:
        shutil.rmtree(checkpoints_dir, ignore_errors=True)
    return result


def _save_final(model: Any, tokenizer: Any, final_dir: Path, result: TrainResult) -> None:
    """Write the adapter (or full model), tokenizer and result marker to a temp folder renamed into place."""
    final_dir.parent.mkdir(parents=True, exist_ok=True)
    if final_dir.exists():  # a leftover without the marker (incomplete): replace it
        shutil.rmtree(final_dir)
    tmp = Path(tempfile.mkdtemp(prefix=".model.", dir=final_dir.parent))
    try:
        model.save_pretrained(str(tmp))
        tokenizer.save_pretrained(str(tmp))
        data = asdict(result)
        data.pop("model_dir")
        data.pop("reused")
        (tmp / RESULT_FILE).write_text(json.dumps(data, indent=2), encoding="utf-8")
        tmp.chmod(0o755)  # mkdtemp makes it private
        tmp.rename(final_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
