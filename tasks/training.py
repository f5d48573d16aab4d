"""Prefect tasks for training: build the two-task training set, fine-tune the student (resumable)."""

from __future__ import annotations

from pathlib import Path

from prefect import task

from fair_core.config import StudentConfig, TrainingConfig
from fair_core.refs import ModelRef, PromptsRef, RoundRef, TableRef
from fair_core.training.samples import build_training_samples, sample_rows, samples_from_rows
from tasks.caching import content_cache_key
from tasks.committee import examples_by_id
from tasks.logs import task_logger
from tasks.progress import TaskProgress


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
) -> TableRef:
    """Accepted rationales (learn from the gold rationale) + teacher feedback (learn from own mistakes)."""
    samples = build_training_samples(
        examples_by_id(examples),
        mistakes.rows(),
        feedback.rows(),
        rationales.rows(),
        acceptance.rows(),
        prompts.load(),
        training,
        seed,
    )
    where.store().write("training_samples", sample_rows(samples))
    tasks_count = {t: sum(s.task == t for s in samples) for t in ("rationale", "feedback")}
    task_logger().info("round %d: %d training samples %s", where.round, len(samples), tasks_count)
    return where.table("training_samples")


@task(name="fine-tune", cache_key_fn=content_cache_key, persist_result=True, retries=1, retry_delay_seconds=5)
def fine_tune(
    training: TrainingConfig,
    student: StudentConfig,
    model: ModelRef,
    samples: TableRef,
    seed: int,
    where: RoundRef,
) -> ModelRef:
    """student_k -> student_k+1 (LoRA adapter or full weights); resumes from its last checkpoint."""
    from fair_core.training.trainer import train_student

    logger = task_logger()
    rows = samples.rows()
    label = f"{student.model}@round{where.round + 1}"
    if not rows:
        logger.warning("round %d: no training samples, the student is unchanged", where.round)
        return ModelRef(model.base, model.adapter, label)
    out_dir = where.store().path / "student"
    init_adapter = Path(model.adapter) if model.adapter and training.method == "lora" else None
    with TaskProgress(f"round {where.round} fine-tune", 1) as progress:

        def report(info: dict) -> None:
            progress(int(info["step"]), int(info["max_steps"]), f"loss {info['loss']:.4f}")

        result = train_student(
            samples_from_rows(rows),
            Path(model.base),
            out_dir,
            training,
            chat_template=student.chat_template,
            system_prompt=student.system_prompt,
            init_adapter=init_adapter,
            seed=seed,
            progress=report,
        )
    logger.info(
        "round %d: trained %d steps on %d samples, mean loss %.4f%s",
        where.round,
        result.steps,
        result.num_samples,
        result.train_loss,
        f" (resumed from {result.resumed_from})" if result.resumed_from else "",
    )
    if training.method == "full":
        return ModelRef(str(result.model_dir), None, label)
    return ModelRef(model.base, str(result.model_dir), label)
