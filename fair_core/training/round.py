"""One round's training, pure recipe: the training set with its record, and student_k -> student_k+1
(one process or `accelerate launch`), with the model card's facts and the loss-curve view."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fair_core.config import ReviewConfig, StudentConfig, TrainingConfig
from fair_core.prompts import PromptSet
from fair_core.records import Example, TrainSample
from fair_core.store.location import remove_tree
from fair_core.training.ablation import effective_alpha, training_set_counts, training_set_settings
from fair_core.training.result import TrainResult
from fair_core.training.samples import build_training_samples, merge_rounds, samples_from_rows

#: Rows of the loss-curve view (longer curves are thinned, validation points kept).
MAX_CURVE_ROWS = 500

#: The round's training folder (relative to the round's): `model/` (student_k+1) and `checkpoints/`.
STUDENT_DIR = "student"


@dataclass(frozen=True)
class TrainingSet:
    """A round's samples and what the manifest records about them (switches and counts)."""

    samples: list[TrainSample]
    settings: dict[str, Any]
    counts: dict[str, Any]


def round_training_set(
    examples: Mapping[str, Example],
    tables: Mapping[str, Sequence[Mapping[str, Any]]],
    prompts: PromptSet,
    training: TrainingConfig,
    review: ReviewConfig | None,
    seed: int,
    round_index: int,
    earlier: Sequence[Sequence[Mapping[str, Any]]] = (),
) -> TrainingSet:
    """Accepted rationales + feedback of round `round_index` (tables: mistakes, feedback, rationales,
    acceptance), filtered by the training-set switches; with data=cumulative merged with the `earlier`
    rounds' training_samples rows (deduplicated, weights recomputed over the union)."""
    own = build_training_samples(
        examples,
        tables["mistakes"],
        tables["feedback"],
        tables["rationales"],
        tables["acceptance"],
        prompts,
        training,
        seed,
        source_round=round_index,
    )
    samples = own
    if training.data == "cumulative":
        samples = merge_rounds(own, [samples_from_rows(rows) for rows in earlier], effective_alpha(training))
    counts = training_set_counts(samples, own, round_index)
    return TrainingSet(samples, training_set_settings(training, review), counts)


def card_facts(student: StudentConfig, round_index: int, build_record: Mapping[str, Any]) -> dict[str, Any]:
    """What the model card says about the round (title, base model, training-set switches and counts)."""
    label = trained_label(student, round_index)
    return {
        "title": f"FAIR student {label}",
        "base_model": student.model,
        "round": round_index,
        "settings": build_record.get("settings", {}),
        "data": {k: v for k, v in build_record.get("counts", {}).items() if isinstance(v, int)},
    }


def trained_label(student: StudentConfig, round_index: int) -> str:
    return f"{student.model}@round{round_index + 1}"


def clear_student(folder: Any) -> bool:
    """Remove a round's training folder (model, model card, loss.png, checkpoints; local or on object
    storage); True if one was there."""
    return remove_tree(folder)


def fine_tune_student(
    samples: Sequence[TrainSample],
    base: Path,
    adapter: Path | None,
    out_dir: Path,
    training: TrainingConfig,
    student: StudentConfig,
    seed: int,
    card: Mapping[str, Any],
    progress: Callable[[dict[str, Any]], None] | None = None,
) -> TrainResult:
    """Train `base` (+ `adapter`, the previous round's LoRA) on `samples` into `out_dir`; resumes from the
    newest checkpoint there. LoRA continues the adapter; full fine-tuning continues `base` itself."""
    init_adapter = adapter if adapter is not None and training.method == "lora" else None
    options: dict[str, Any] = {
        "chat_template": student.chat_template,
        "system_prompt": student.system_prompt,
        "init_adapter": init_adapter,
        "seed": seed,
        "card": dict(card),
    }
    if training.num_processes > 1:
        from fair_core.training.launch import run_distributed

        return run_distributed(samples, base, out_dir, training, progress=progress, **options)
    from fair_core.training.trainer import train_student

    return train_student(samples, base, out_dir, training, progress=progress, **options)


def progress_text(info: Mapping[str, Any], last_eval: float | None) -> str:
    """A training progress line: loss, learning rate, last validation loss."""
    parts = []
    if info.get("loss") is not None:
        parts.append(f"loss {info['loss']:.4f}")
    if info.get("learning_rate") is not None:
        parts.append(f"lr {info['learning_rate']:.2e}")
    if last_eval is not None:
        parts.append(f"val {last_eval:.4f}")
    return " ".join(parts)


def loss_curve_rows(result: TrainResult, max_rows: int = MAX_CURVE_ROWS) -> list[dict[str, Any]]:
    """step, loss, learning rate and validation loss per logged step, at most `max_rows` of them."""
    evals = dict(result.eval_losses)
    rates = dict(result.learning_rates)
    rows = [
        {"step": s, "loss": round(v, 5), "learning_rate": rates.get(s), "eval_loss": evals.get(s)}
        for s, v in result.losses
    ]
    rows += [
        {"step": s, "loss": None, "learning_rate": None, "eval_loss": v} for s, v in evals.items() if s == 0
    ]
    rows.sort(key=lambda r: r["step"])
    if len(rows) > max_rows:
        stride = -(-len(rows) // max_rows)
        rows = [
            r for i, r in enumerate(rows) if i % stride == 0 or r["eval_loss"] is not None or r is rows[-1]
        ]
    return rows


def fine_tune_markdown(round_index: int, result: TrainResult) -> str:
    """The fine-tune report of a round: steps, samples, losses, padding share, where the model is."""
    padding = result.padding_fraction
    first = result.losses[0][1] if result.losses else None
    last = result.final_train_loss
    lines = [
        f"# Fine-tune, round {round_index}",
        "",
        f"- steps: {result.steps}, samples: {result.num_samples} train / {result.num_validation_samples} "
        f"validation, batching: {result.batching}, precision: {result.precision}, "
        f"processes: {result.world_size}",
        f"- train loss: first {first:.4f}, last epoch mean {last:.4f}"
        if first is not None and last is not None
        else "- train loss: -",
        f"- validation loss: before {result.initial_eval_loss}, after {result.final_eval_loss}",
        f"- padding share of computed tokens: {padding:.1%}" if padding is not None else "- padding: -",
        f"- model, card and loss.png: `{result.model_dir}`",
    ]
    return "\n".join(lines) + "\n"


def describe_result(round_index: int, result: TrainResult) -> str:
    """One log line of a finished training."""
    first = result.losses[0][1] if result.losses else float("nan")
    last = result.final_train_loss if result.final_train_loss is not None else float("nan")
    resumed = f" (resumed from {result.resumed_from})" if result.resumed_from else ""
    return (
        f"round {round_index}: trained {result.steps} steps on {result.num_samples} samples "
        f"({result.world_size} processes), loss {first:.4f} -> {last:.4f}, validation "
        f"{result.initial_eval_loss} -> {result.final_eval_loss}{resumed}"
    )
