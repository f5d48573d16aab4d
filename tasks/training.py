"""Stage 4, training, as Prefect tasks: the two-task training set (with its ablation switches, per round
or cumulative), then student_k -> student_k+1 (one process or `accelerate launch`, resumable).

`training_stage` composes them (a flow calls it).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prefect import task
from prefect.artifacts import create_markdown_artifact, create_table_artifact

from fair_core.config import FairConfig, ReviewConfig, StudentConfig, TrainingConfig
from fair_core.records import examples_by_id
from fair_core.refs import ModelRef, PromptsRef, RoundRef, TableRef
from fair_core.store.integrity import FINE_TUNE, folder_files, model_problem
from fair_core.store.location import is_remote, scratch_dir, upload_folder
from fair_core.store.parquet import StoreError
from fair_core.training.round import (
    STUDENT_DIR,
    card_facts,
    clear_student,
    describe_result,
    fine_tune_markdown,
    fine_tune_student,
    loss_curve_rows,
    progress_text,
    round_training_set,
    trained_label,
)
from fair_core.training.samples import sample_rows, samples_from_rows
from tasks.caching import content_cache_key
from tasks.logs import task_logger
from tasks.naming import progress_key, round_task_name, tagged
from tasks.progress import TaskProgress
from tasks.report import artifact_key


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


@task(
    name="build-training-set",
    task_run_name=round_task_name("build training set"),
    cache_key_fn=content_cache_key,
    persist_result=True,
)
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
    read = (mistakes, feedback, rationales, acceptance)
    earlier = list(earlier or [])
    built = round_training_set(
        examples_by_id(examples.rows()),
        {ref.name: ref.rows() for ref in read},
        prompts.load(),
        training,
        review,
        seed,
        where.round,
        [ref.rows() for ref in earlier],
    )
    store = where.store()
    store.write("training_samples", sample_rows(built.samples))
    inputs = {r.name: r.fingerprint()["sha256"] for r in (examples, *read)}
    inputs |= {f"round={r.where.round}/{r.name}": r.fingerprint()["sha256"] for r in earlier}
    extra = {"settings": built.settings, "counts": built.counts}
    store.record_stage("build-training-set", inputs=inputs, outputs=["training_samples"], extra=extra)
    counts = built.counts
    task_logger().info(
        "round %d: %d training samples (%d rationale, %d feedback; %s) with %s",
        where.round,
        counts["samples"],
        counts["rationale_samples"],
        counts["feedback_samples"],
        counts["by_round"],
        built.settings,
    )
    return where.table("training_samples")


def publish_loss_curve(where: RoundRef, result: Any) -> None:
    """The loss curve as a table artifact and the run's figures as a markdown artifact."""
    key = artifact_key("fair", where.run_id, "round", where.round, "loss")
    create_table_artifact(loss_curve_rows(result), key=key, description=f"Training loss, round {where.round}")
    markdown = fine_tune_markdown(where.round, result)
    create_markdown_artifact(markdown, key=f"{key}-report", description="Fine-tune report")


@task(
    name="fine-tune",
    task_run_name=round_task_name("fine-tune"),
    cache_key_fn=content_cache_key,
    persist_result=True,
    retries=1,
    retry_delay_seconds=5,
)
def fine_tune(
    training: TrainingConfig,
    student: StudentConfig,
    model: ModelRef,
    samples: TableRef,
    seed: int,
    where: RoundRef,
) -> ModelRef:
    """student_k -> student_k+1 (LoRA adapter or full weights); resumes from its last checkpoint. With
    training.num_processes > 1 the processes are started by `accelerate launch`.

    An empty training set leaves student_k unchanged and nothing else behind: an earlier attempt's model,
    checkpoints and loss plot are removed and the manifest records that the round trained nothing (so
    `fair_core.runs.trained_student` gives student_k). A model folder from other inputs, or damaged, is
    removed before training, never reused."""
    logger = task_logger()
    rows = samples.rows()
    label = trained_label(student, where.round)
    store = where.store()
    inputs = {"training_samples": samples.fingerprint()["sha256"], "student": str(model.fingerprint())}
    folder = store.path / STUDENT_DIR  # on object storage: trained in `work`, then uploaded here
    remote = is_remote(folder)
    work = scratch_dir("training", where.run_id, f"round={where.round}") / STUDENT_DIR if remote else folder
    if not rows:
        removed = clear_student(folder)
        kept = {"base": model.base, "adapter": model.adapter}
        store.record_stage(FINE_TUNE, inputs=inputs, outputs=[], extra={"trained": False, "student": kept})
        logger.warning(
            "round %d: no training samples, the student is unchanged%s",
            where.round,
            f" (removed {folder}, left by an earlier attempt)" if removed else "",
        )
        return ModelRef(model.base, model.adapter, label)
    previous = store.manifest().get("stages", {}).get(FINE_TUNE) or {}
    stale = model_problem(store) or (previous.get("inputs") != inputs and "trained from other inputs")
    if stale and clear_student(folder):
        logger.warning("round %d: removed %s (%s); training again", where.round, folder, stale)
    if stale and remote:
        clear_student(work)
    store.record_stage(FINE_TUNE, inputs=inputs, outputs=[], extra={"trained": None})  # started
    card = card_facts(student, where.round, store.manifest().get("stages", {}).get("build-training-set", {}))
    store.count_start(FINE_TUNE)  # the manifest counts real trainings (a cached result is not one)
    key = progress_key(where, "fine-tune")
    with TaskProgress(f"round {where.round} fine-tune", 1, key) as progress:
        last_eval: list[float] = []

        def report(info: dict[str, Any]) -> None:
            if info.get("eval_loss") is not None:
                last_eval.append(float(info["eval_loss"]))
            text = progress_text(info, last_eval[-1] if last_eval else None)
            progress(int(info["step"]), int(info["max_steps"]) or 1, text)

        start = model.local()  # the previous round's student, downloaded when on object storage
        adapter = Path(start.adapter) if start.adapter else None
        result = fine_tune_student(
            samples_from_rows(rows),
            Path(start.base),
            adapter,
            work,
            training,
            student,
            seed,
            card,
            progress=report,
        )
    logger.info("%s", describe_result(where.round, result))
    model_dir = folder / result.model_dir.relative_to(work)
    if remote:  # the model folder, then its completion marker (never a half-uploaded student)
        upload_folder(result.model_dir, model_dir)
        logger.info("round %d: uploaded %s", where.round, model_dir)
    saved = str(model_dir.relative_to(store.path))
    store.record_stage(
        FINE_TUNE,
        inputs=inputs,
        outputs=[saved],
        extra={
            "trained": True,
            "model": {"path": saved, "files": folder_files(result.model_dir)},
            "result": {k: v for k, v in result.record().items() if not isinstance(v, list)},
        },
    )
    try:
        publish_loss_curve(where, result)
    except Exception as err:  # artifacts are a view, never a reason to fail the work
        logger.warning("loss curve artifact not published: %s", err)
    if training.method == "full":
        return ModelRef(str(model_dir), None, label)
    return ModelRef(model.base, str(model_dir), label)


def training_stage(
    config: FairConfig,
    where: RoundRef,
    student: ModelRef,
    train: TableRef,
    mistakes: TableRef,
    feedback: TableRef,
    rationales: TableRef,
    acceptance: TableRef,
) -> ModelRef:
    """The round's training set (accepted rationales + feedback), then student_k -> student_k+1."""
    samples = tagged(build_training_set, where, "training")(
        config.training,
        config.run.seed,
        train,
        mistakes,
        feedback,
        rationales,
        acceptance,
        PromptsRef(config.prompts.template_dir),
        where,
        review=config.review,
        earlier=earlier_training_sets(where, config.training),  # data=cumulative: earlier rounds' sets
    )
    train = tagged(fine_tune, where, "training", role="student")
    return train(config.training, config.student, student, samples, config.run.seed, where)
