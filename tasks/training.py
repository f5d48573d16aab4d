"""Prefect tasks for training: build the two-task training set (with its ablation switches, per round or
cumulative), fine-tune the student (one process or `accelerate launch`, resumable) and show its loss."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prefect import task
from prefect.artifacts import create_markdown_artifact, create_table_artifact

from fair_core.config import ReviewConfig, StudentConfig, TrainingConfig
from fair_core.refs import ModelRef, PromptsRef, RoundRef, TableRef
from fair_core.store.parquet import StoreError
from fair_core.training.ablation import effective_alpha, training_set_counts, training_set_settings
from fair_core.training.samples import build_training_samples, merge_rounds, sample_rows, samples_from_rows
from tasks.caching import content_cache_key
from tasks.committee import examples_by_id
from tasks.logs import task_logger
from tasks.progress import TaskProgress
from tasks.report import artifact_key

MAX_CURVE_ROWS = 500  # rows of the loss-curve table artifact (longer curves are thinned)


def earlier_training_sets(where: RoundRef, training: TrainingConfig) -> list[TableRef]:
    """The earlier rounds' training_samples tables a cumulative round merges (none for data=round)."""
    if training.data != "cumulative":
        return []
    refs = [RoundRef(where.data_dir, where.run_id, k).table("training_samples") for k in range(where.round)]
    for ref in refs:
        if not ref.store().exists("training_samples"):
            raise StoreError(
                f"training.data=cumulative: round {ref.where.round} of run {where.run_id} has no "
                "training_samples table; rounds must run in order"
            )
    return refs


@task(name="build-training-set", cache_key_fn=content_cache_key, persist_result=True)
def build_training_set(
    training: TrainingConfig,
    seed: int,
    examples: TableRef,
    mistakes: TableRef,
    feedback: TableRef,
    rationales: TableRef,
    acceptance: TableRef,
    prompts: PromptsRef,
    where: RoundRef,
    review: ReviewConfig | None = None,
    earlier: list[TableRef] | None = None,
) -> TableRef:
    """Accepted rationales (learn from the gold rationale) + teacher feedback (learn from own mistakes),
    filtered by the training-set switches; with data=cumulative, merged with `earlier` rounds' sets.
    The switches, the counts and the tables read (with their hashes) go to the round manifest."""
    own = build_training_samples(
        examples_by_id(examples),
        mistakes.rows(),
        feedback.rows(),
        rationales.rows(),
        acceptance.rows(),
        prompts.load(),
        training,
        seed,
        source_round=where.round,
    )
    earlier = list(earlier or [])
    samples = own
    if training.data == "cumulative":
        samples = merge_rounds(own, [samples_from_rows(r.rows()) for r in earlier], effective_alpha(training))
    store = where.store()
    store.write("training_samples", sample_rows(samples))
    inputs = {
        r.name: r.fingerprint()["sha256"] for r in (examples, mistakes, feedback, rationales, acceptance)
    }
    inputs |= {f"round={r.where.round}/{r.name}": r.fingerprint()["sha256"] for r in earlier}
    settings = training_set_settings(training, review)
    counts = training_set_counts(samples, own, where.round)
    store.record_stage(
        "build-training-set",
        inputs=inputs,
        outputs=["training_samples"],
        extra={"settings": settings, "counts": counts},
    )
    task_logger().info(
        "round %d: %d training samples (%d rationale, %d feedback; %s) with %s",
        where.round,
        counts["samples"],
        counts["rationale_samples"],
        counts["feedback_samples"],
        counts["by_round"],
        settings,
    )
    return where.table("training_samples")


def _progress_text(info: dict[str, Any], last_eval: float | None) -> str:
    parts = []
    if info.get("loss") is not None:
        parts.append(f"loss {info['loss']:.4f}")
    if info.get("learning_rate") is not None:
        parts.append(f"lr {info['learning_rate']:.2e}")
    if last_eval is not None:
        parts.append(f"val {last_eval:.4f}")
    return " ".join(parts)


def publish_loss_curve(where: RoundRef, result: Any) -> None:
    """The loss curve as a table artifact and the run's figures as a markdown artifact."""
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
    if len(rows) > MAX_CURVE_ROWS:
        stride = -(-len(rows) // MAX_CURVE_ROWS)
        rows = [
            r for i, r in enumerate(rows) if i % stride == 0 or r["eval_loss"] is not None or r is rows[-1]
        ]
    key = artifact_key("fair", where.run_id, "round", where.round, "loss")
    create_table_artifact(rows, key=key, description=f"Training loss, round {where.round}")
    padding = result.padding_fraction
    lines = [
        f"# Fine-tune, round {where.round}",
        "",
        f"- steps: {result.steps}, samples: {result.num_samples} train / {result.num_validation_samples} "
        f"validation, batching: {result.batching}, precision: {result.precision}, "
        f"processes: {result.world_size}",
        f"- train loss: first {result.losses[0][1]:.4f}, last epoch mean {result.final_train_loss:.4f}"
        if result.losses and result.final_train_loss is not None
        else "- train loss: -",
        f"- validation loss: before {result.initial_eval_loss}, after {result.final_eval_loss}",
        f"- padding share of computed tokens: {padding:.1%}" if padding is not None else "- padding: -",
        f"- model, card and loss.png: `{result.model_dir}`",
    ]
    create_markdown_artifact("\n".join(lines) + "\n", key=f"{key}-report", description="Fine-tune report")


@task(name="fine-tune", cache_key_fn=content_cache_key, persist_result=True, retries=1, retry_delay_seconds=5)
def fine_tune(
    training: TrainingConfig,
    student: StudentConfig,
    model: ModelRef,
    samples: TableRef,
    seed: int,
    where: RoundRef,
) -> ModelRef:
    """student_k -> student_k+1 (LoRA adapter or full weights); resumes from its last checkpoint. With
    training.num_processes > 1 the processes are started by `accelerate launch`."""
    from fair_core.training.launch import run_distributed
    from fair_core.training.trainer import train_student

    logger = task_logger()
    rows = samples.rows()
    label = f"{student.model}@round{where.round + 1}"
    if not rows:
        logger.warning("round %d: no training samples, the student is unchanged", where.round)
        return ModelRef(model.base, model.adapter, label)
    store = where.store()
    out_dir = store.path / "student"
    # full fine-tuning continues from model.base itself (the previous round's full model)
    init_adapter = Path(model.adapter) if model.adapter and training.method == "lora" else None
    build = store.manifest().get("stages", {}).get("build-training-set", {})
    card = {
        "title": f"FAIR student {label}",
        "base_model": student.model,
        "round": where.round,
        "settings": build.get("settings", {}),
        "data": {k: v for k, v in build.get("counts", {}).items() if isinstance(v, int)},
    }
    options: dict[str, Any] = dict(
        chat_template=student.chat_template,
        system_prompt=student.system_prompt,
        init_adapter=init_adapter,
        seed=seed,
        card=card,
    )
    store.count_start("fine-tune")  # the manifest counts real trainings (a cached result is not one)
    with TaskProgress(f"round {where.round} fine-tune", 1) as progress:
        last_eval: list[float] = []

        def report(info: dict[str, Any]) -> None:
            if info.get("eval_loss") is not None:
                last_eval.append(float(info["eval_loss"]))
            text = _progress_text(info, last_eval[-1] if last_eval else None)
            progress(int(info["step"]), int(info["max_steps"]) or 1, text)

        if training.num_processes > 1:
            result = run_distributed(
                samples_from_rows(rows), Path(model.base), out_dir, training, progress=report, **options
            )
        else:
            result = train_student(
                samples_from_rows(rows), Path(model.base), out_dir, training, progress=report, **options
            )
    logger.info(
        "round %d: trained %d steps on %d samples (%d processes), loss %.4f -> %.4f, validation %s -> %s%s",
        where.round,
        result.steps,
        result.num_samples,
        result.world_size,
        result.losses[0][1] if result.losses else float("nan"),
        result.final_train_loss if result.final_train_loss is not None else float("nan"),
        result.initial_eval_loss,
        result.final_eval_loss,
        f" (resumed from {result.resumed_from})" if result.resumed_from else "",
    )
    store.record_stage(
        "fine-tune",
        inputs={"training_samples": samples.fingerprint()["sha256"], "student": str(model.fingerprint())},
        outputs=[str(result.model_dir.relative_to(store.path))],
        extra={"result": {k: v for k, v in result.record().items() if not isinstance(v, list)}},
    )
    try:
        publish_loss_curve(where, result)
    except Exception as err:  # artifacts are a view, never a reason to fail the work
        logger.warning("loss curve artifact not published: %s", err)
    if training.method == "full":
        return ModelRef(str(result.model_dir), None, label)
    return ModelRef(model.base, str(result.model_dir), label)
