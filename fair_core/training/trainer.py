"""Fine-tunes the student (LoRA or full) on weighted completion-only samples with transformers' Trainer."""

from __future__ import annotations

import json
import os
import shutil
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from transformers import PrinterCallback, TrainerCallback

from fair_core.config import TrainingConfig
from fair_core.records import TrainSample
from fair_core.students.models import quiet_progress_bars
from fair_core.training.arguments import check_optimizer, check_report_to, training_arguments
from fair_core.training.card import CARD_FILE, PLOT_FILE, model_card, student_facts
from fair_core.training.checkpoints import (
    latest_checkpoint,
    read_record,
    remove_partials,
    save_final,
)
from fair_core.training.collate import encode_samples, group_units, make_collator
from fair_core.training.loss import TASK_LOSS_KEYS, WeightedCompletionTrainer
from fair_core.training.model import load_model, packing_isolates_samples, resolve_precision, trainable_hash
from fair_core.training.result import TrainResult, history, last_epoch_mean
from fair_core.training.split import question_of, split_by_example
from fair_core.training.tracking import TrackingTarget, attach_trackers, target_for

RANKS_DIR = "ranks"  # distributed runs: one {rank, steps, trainable_sha256} file per rank


class _ProgressCallback(TrainerCallback):
    """Forwards every logged training loss (with learning rate) and validation loss, on the main process."""

    def __init__(self, progress: Callable[[dict[str, Any]], None]) -> None:
        self.progress = progress

    def on_log(
        self, args: Any, state: Any, control: Any, logs: dict[str, Any] | None = None, **kwargs: Any
    ) -> None:
        if not logs or not state.is_world_process_zero:
            return
        common = {
            "step": state.global_step,
            "epoch": logs.get("epoch", state.epoch),
            "max_steps": state.max_steps,
        }
        if "loss" in logs:
            self.progress(common | {"loss": float(logs["loss"]), "learning_rate": logs.get("learning_rate")})
        if "eval_loss" in logs:
            self.progress(common | {"eval_loss": float(logs["eval_loss"])})


class _ListDataset(torch.utils.data.Dataset):
    def __init__(self, rows: list[dict[str, Any]]) -> None:
        self.rows = rows

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, index: int) -> dict[str, Any]:
        return self.rows[index]


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
    card: Mapping[str, Any] | None = None,
    tracking: TrackingTarget | None = None,
) -> TrainResult:
    """Fine-tune `base_model` on `samples`; the result is saved atomically to `output_dir/model`.

    Loss contract (cfg.loss_reduction "sample"): each sample's loss L_i is its mean token cross-entropy
    over the completion (+ eos); a batch's loss is mean_i(weight_i * L_i) ("token": each task's tokens
    pooled in the batch, see `loss.weighted_completion_loss`). The caller precomputes the weights so that
    the expectation over batches is alpha * L_feedback + (1 - alpha) * L_rationale (e.g. weight =
    alpha * N / N_feedback on feedback samples and (1 - alpha) * N / N_rationale on rationale samples);
    nothing is reweighted here.

    Prompts are wrapped with the same `format_prompt` as inference (`chat_template`, `system_prompt`).
    method "lora": a new LoRA adapter from cfg, or, given `init_adapter` (the previous round's adapter),
    that adapter trained further. method "full": all weights, from `init_adapter` (a full model) or
    `base_model`. cfg.batching packs, length-groups or pads batches (see `collate.make_collator`); with
    cfg.batch_unit "pair" a batch holds cfg.batch_size questions with all their samples;
    cfg.validation_fraction holds out questions for a validation loss (before training, every epoch, end).

    Checkpoints go to `output_dir/checkpoints` every cfg.save_steps steps (the last 2 kept) and a later call
    resumes from the newest automatically. When `output_dir/model` is already complete it is returned
    (`reused=True`) without training. `progress` gets {"step", "loss", "learning_rate", "epoch",
    "max_steps"} after every optimizer step, and {"step", "eval_loss", "epoch", "max_steps"} after every
    validation; `callbacks` are extra `TrainerCallback`s; `card` adds title, base_model, round, settings and
    data to the model card. Under `accelerate launch` / `torchrun` every rank runs this same function.

    cfg.report_to's trackers get every training log (weighted loss, each task's loss, learning rate,
    validation loss) in the tracker run `tracking` (default `tracking.target_for(output_dir)`: a round's
    training logs to `<run>/tracking/round=<k>/`, named "<run id> round <k>").
    """
    from transformers import AutoTokenizer, set_seed

    from fair_core.report.plots import loss_series, plot_loss_curve

    output_dir = Path(output_dir)
    final_dir = output_dir / "model"
    finished = read_record(final_dir)
    if finished is not None:
        return TrainResult.from_record(final_dir, finished)
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size == 1:
        remove_partials(output_dir)
    seed = cfg.seed if cfg.seed is not None else seed
    precision = resolve_precision(cfg.precision)
    check_optimizer(cfg)
    check_report_to(cfg)
    tracking = tracking or target_for(output_dir)
    tokenizer = AutoTokenizer.from_pretrained(str(base_model))
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    train_samples, validation_samples = split_by_example(samples, cfg.validation_fraction, seed)
    encoded = encode_samples(train_samples, tokenizer, cfg.max_length, chat_template, system_prompt)
    validation = encode_samples(validation_samples, tokenizer, cfg.max_length, chat_template, system_prompt)
    if not encoded.features:
        raise ValueError(
            f"no trainable sample: all {len(train_samples)} prompts fill training.max_length="
            f"{cfg.max_length} tokens, leaving no room for the completion; raise training.max_length"
        )

    set_seed(seed)  # the LoRA initialisation is drawn before Trainer seeds itself
    with quiet_progress_bars():
        model = load_model(Path(base_model), cfg, init_adapter)
    if cfg.batching == "packed" and not packing_isolates_samples(model):
        raise ValueError(
            f"training.batching=packed: {base_model} lets packed samples attend to each other (its attention "
            "ignores restarting position ids); use training.batching=length_grouped"
        )
    checkpoints_dir = output_dir / "checkpoints"
    resume = latest_checkpoint(checkpoints_dir, cleanup=world_size == 1)
    cuda = torch.cuda.is_available()
    evaluate = bool(validation.features)
    args = training_arguments(
        cfg,
        str(checkpoints_dir),
        seed=seed,
        precision=precision,
        cuda=cuda,
        world_size=world_size,
        evaluate=evaluate,
        resume=resume is not None,
        run_name=tracking.run_name,
    )
    pairs = cfg.batch_unit == "pair"
    train_rows = group_units(encoded.features) if pairs else encoded.features
    validation_rows = group_units(validation.features) if pairs else validation.features
    trainer = WeightedCompletionTrainer(
        model=model,
        args=args,
        train_dataset=_ListDataset(train_rows),
        eval_dataset=_ListDataset(validation_rows) if evaluate else None,
        data_collator=make_collator(cfg.batching, tokenizer.pad_token_id, cfg.max_length, pairs),
        loss_reduction=cfg.loss_reduction,
        processing_class=tokenizer,
        callbacks=[*([_ProgressCallback(progress)] if progress else []), *callbacks],
    )
    trainer.remove_callback(PrinterCallback)  # it prints every log dict when tqdm is disabled
    attach_trackers(trainer, tracking)
    started = time.monotonic()
    with warnings.catch_warnings():  # peft asks transformers a deprecated question on every step
        warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)
        trainer.train(resume_from_checkpoint=str(resume) if resume else None)
        if evaluate and not any(
            "eval_loss" in log and log["step"] == trainer.state.global_step
            for log in trainer.state.log_history
        ):
            trainer.evaluate()  # the epochs ended mid-way (fractional epochs): measure the end too
    logged = trainer.state.log_history
    losses = history(logged, "loss")
    steps = trainer.state.global_step
    result = TrainResult(
        model_dir=final_dir,
        steps=steps,
        train_loss=sum(loss for _, loss in losses) / max(len(losses), 1),
        losses=losses,
        resumed_from=str(resume) if resume else None,
        method=cfg.method,
        num_samples=len(encoded.features),
        dropped=encoded.dropped + validation.dropped,
        truncated=encoded.truncated + validation.truncated,
        learning_rates=history(logged, "learning_rate"),
        eval_losses=history(logged, "eval_loss"),
        final_train_loss=last_epoch_mean(losses, steps, cfg.epochs),
        num_validation_samples=len(validation.features),
        train_questions=len({question_of(s) for s in train_samples}),
        validation_questions=len({question_of(s) for s in validation_samples}),
        batching=cfg.batching,
        precision=precision,
        world_size=world_size,
        seed=seed,
        useful_tokens=trainer.useful_tokens,
        token_slots=trainer.token_slots,
        train_seconds=round(time.monotonic() - started, 3),
        rationale_losses=history(logged, TASK_LOSS_KEYS["rationale"]),
        feedback_losses=history(logged, TASK_LOSS_KEYS["feedback"]),
        epochs=history([log for log in logged if "loss" in log], "epoch"),
    )
    if world_size > 1 and not (trainer.is_fsdp_enabled or trainer.is_deepspeed_enabled):
        rank = trainer.args.process_index
        record = {"rank": rank, "steps": steps, "trainable_sha256": trainable_hash(trainer.model)}
        (output_dir / RANKS_DIR).mkdir(parents=True, exist_ok=True)
        (output_dir / RANKS_DIR / f"rank-{rank}.json").write_text(json.dumps(record), encoding="utf-8")

    def extras(folder: Path) -> None:
        info = {"base_model": str(base_model), **dict(card or {})}
        info |= student_facts(folder, str(info["base_model"]), base_model, final_dir, chat_template)
        (folder / CARD_FILE).write_text(model_card(result.record(), cfg, info), encoding="utf-8")
        title = str(info.get("title", "training loss"))
        (folder / PLOT_FILE).write_bytes(plot_loss_curve(loss_series(result.record()), title))

    save_final(trainer, final_dir, result.record(), extras)
    if not keep_checkpoints and trainer.is_world_process_zero():
        shutil.rmtree(checkpoints_dir, ignore_errors=True)
    return result
