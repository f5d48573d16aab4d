"""Stage 1, student inference, as Prefect tasks: load the splits, the student answers them, the mistakes.

`inference_stage` composes the tasks (a flow calls it); `answer_table` is shared with evaluation: one
`student-answers` task, or with `student.shards > 1` one task per contiguous part of the table (submitted
together, so a Dask/Ray task runner or several workers run them in parallel) joined by `concat-answers`.
"""

from __future__ import annotations

from pathlib import Path

from prefect import task

from fair_core.config import ConfigError, DatasetConfig, FairConfig, StudentConfig
from fair_core.datasets import (
    DatasetError,
    DatasetUnavailable,
    SkippedRow,
    load_examples,
    skipped_summary,
)
from fair_core.evaluation import accuracy
from fair_core.inference import answer_examples, mistakes_from_outputs
from fair_core.records import Example
from fair_core.refs import ModelRef, PromptsRef, RoundRef, TableRef
from fair_core.shards import shard_part, shard_slice
from fair_core.store.location import is_remote, scratch_dir
from fair_core.store.parquet import MANIFEST, RoundStore
from fair_core.students.base import GenerationParams
from fair_core.students.factory import open_student
from fair_core.students.models import resolve_model
from tasks.caching import content_cache_key
from tasks.logs import task_logger
from tasks.naming import answers_name, progress_key, round_task_name, tagged
from tasks.progress import TaskProgress

#: The table a student-answers task writes -> the stage its task runs are tagged with.
STAGES = {"baseline_evaluation": "evaluation", "evaluation": "evaluation"}


def percent(value: float | None) -> str:
    """An accuracy for a log line: '43.8%', or '-' when there is none (no rows)."""
    return "-" if value is None else f"{value:.1%}"


def retry_unless_config_error(task: object, task_run: object, state: object) -> bool:
    """Prefect `retry_condition_fn`: a bad dataset (missing file, unknown task or split) fails at once; an
    unreachable Hub or any other error is retried."""
    try:
        state.result()  # type: ignore[attr-defined]
    except DatasetUnavailable:
        return True
    except ConfigError:
        return False
    except Exception:
        return True
    return True


@task(
    name="prepare-examples",
    task_run_name=lambda parameters: f"prepare {parameters['table'].replace('_', ' ')}",
    cache_key_fn=content_cache_key,
    persist_result=True,
    retries=2,
    retry_delay_seconds=5,
    retry_condition_fn=retry_unless_config_error,
)
def prepare_examples(dataset: DatasetConfig, split: str, where: RoundRef, table: str) -> TableRef:
    """Load `split` (Hub, local files or reasoning-gym), write the table, and record every skipped row (and
    every example shortened to fit `max_input_tokens`) in the round manifest under `skipped_rows.<table>`
    (`truncated_rows.<table>`): the split, the count and each row's id and reason. Logged once."""
    result = load_examples(dataset, split, report=False)
    store = where.store()
    if not result.examples:
        raise DatasetError(
            f"{result.source or dataset.name}: no valid rows"
            + (f" ({skipped_summary(result)})" if result.skipped else "")
        )
    store.write(table, [e.to_row() | {"split": split} for e in result.examples])
    _record_rows(store, "skipped_rows", table, split, result.skipped)
    _record_rows(store, "truncated_rows", table, split, result.truncated)
    logger = task_logger()
    summary = skipped_summary(result)
    if summary:
        keys = [
            k for k, rows in (("skipped_rows", result.skipped), ("truncated_rows", result.truncated)) if rows
        ]
        listed = " and ".join(f"{key}.{table}" for key in keys)
        logger.warning(
            "%s: %s; all listed in %s under %s", result.source, summary, store.path / MANIFEST, listed
        )
    for note in result.notes:  # e.g. local files that split the dataset unlike its Hub copy
        logger.warning("%s", note)
    logger.info("%s/%s: %d examples", dataset.name, split, len(result.examples))
    return where.table(table)


def _record_rows(store: RoundStore, key: str, table: str, split: str, rows: list[SkippedRow]) -> None:
    """`manifest[key][table] = {split, count, rows: [{id, reason}]}` (other tables' entries kept)."""
    entries = dict(store.manifest().get(key) or {})
    if not rows and table not in entries:
        return
    entries[table] = {
        "split": split,
        "count": len(rows),
        "rows": [{"id": row.row_id, "reason": row.reason} for row in rows],
    }
    store.set_meta(**{key: entries})


@task(name="resolve-student", task_run_name="resolve student", retries=1)
def resolve_student(student: StudentConfig, data_dir: str) -> ModelRef:
    """The starting student: an alias is materialised once under `<data_dir>/models` (a data dir on object
    storage: in each worker's scratch folder)."""
    models = scratch_dir("models") if is_remote(data_dir) else Path(data_dir).expanduser() / "models"
    path = resolve_model(student.model, models)
    return ModelRef(base=str(path), label=student.model)


@task(name="student-answers", task_run_name=answers_name, cache_key_fn=content_cache_key, persist_result=True)
def student_answers(
    student: StudentConfig,
    model: ModelRef,
    examples: TableRef,
    prompts: PromptsRef,
    params: GenerationParams,
    where: RoundRef,
    table: str,
    shard: int = 0,
    shards: int = 1,
) -> TableRef:
    """The student answers part `shard` of `shards` of a table (contiguous; the whole table when 1), each
    answer parsed and checked against gold; the part is stored as its own table part."""
    rows = list(shard_slice(examples.rows(), shard, shards))
    part = shard_part(None, shard, shards)
    stage = f"round {where.round} {table} ({model.label})" + (f" {part}" if part else "")
    key = progress_key(where, table, part)
    out = answer_rows(student, model, rows, prompts, params, stage, shard, key)
    where.store().write(table, out, part=part)
    task_logger().info("%s: accuracy %s on %d examples", stage, percent(accuracy(out)), len(out))
    return where.table(table, part)


def answer_rows(
    student: StudentConfig,
    model: ModelRef,
    rows: list[dict],
    prompts: PromptsRef,
    params: GenerationParams,
    stage: str,
    shard: int = 0,
    key: str | None = None,
) -> list[dict]:
    """Inside a task: the student answers examples-table `rows` (answer rows, see `answer_examples`);
    `key`: the key of the task's progress artifact."""
    if not rows:
        return []
    backend = open_student(student, model, shard=shard)
    try:
        with TaskProgress(stage, len(rows), key) as progress:
            return answer_examples(
                backend,
                [Example.from_row(r) for r in rows],
                prompts.load(),
                params,
                split=rows[0]["split"],
                model_label=model.label,
                progress=progress,
            )
    finally:
        backend.close()


@task(
    name="concat-answers",
    task_run_name=lambda parameters: f"join {answers_name({'table': parameters['table']})}",
    cache_key_fn=content_cache_key,
    persist_result=True,
)
def concat_answers(parts: list[TableRef], where: RoundRef, table: str) -> TableRef:
    """The shards' parts, in order, written as the whole table."""
    out = [row for part in parts for row in part.rows()]
    where.store().write(table, out)
    task_logger().info(
        "%s: accuracy %s on %d examples (%d shards)", table, percent(accuracy(out)), len(out), len(parts)
    )
    return where.table(table)


@task(
    name="collect-mistakes",
    task_run_name=round_task_name("collect mistakes"),
    cache_key_fn=content_cache_key,
    persist_result=True,
)
def collect_mistakes(outputs: TableRef, where: RoundRef) -> TableRef:
    """The round's mistakes: every wrong or unparseable student answer."""
    mistakes = mistakes_from_outputs(outputs.rows())
    where.store().write("mistakes", mistakes)
    task_logger().info("round %d: %d mistakes", where.round, len(mistakes))
    return where.table("mistakes")


def answer_table(
    student: StudentConfig,
    model: ModelRef,
    examples: TableRef,
    prompts: PromptsRef,
    params: GenerationParams,
    where: RoundRef,
    table: str,
) -> TableRef:
    """Inside a flow: the student answers `examples` into `table`, in `student.shards` parallel tasks."""
    shards = student.shards
    stage = STAGES.get(table, "student-inference")
    answers = tagged(student_answers, where, stage, role="student")
    if shards <= 1:
        return answers(student, model, examples, prompts, params, where, table)
    futures = [
        answers.submit(student, model, examples, prompts, params, where, table, i, shards)
        for i in range(shards)
    ]
    concat = tagged(concat_answers, where, stage)
    return concat([f.result() for f in futures], where, table)


def generation_params(config: FairConfig, evaluation: bool) -> GenerationParams:
    """Decoding of the training-split answers, or of evaluation (its own token budget when set; the first of
    `evaluation.seeds` when set)."""
    ev = config.evaluation
    budget = (ev.max_new_tokens if evaluation else None) or config.student.max_new_tokens
    return GenerationParams(
        max_new_tokens=budget,
        greedy=ev.greedy and not (evaluation and ev.seeds),
        temperature=ev.temperature,
        top_p=ev.top_p,
        seed=ev.seeds[0] if evaluation and ev.seeds else config.run.seed if ev.seed is None else ev.seed,
        stop=tuple(config.student.stop),
    )


def evaluation_prompts(config: FairConfig) -> PromptsRef:
    """The prompts the test split is asked with: `evaluation.prompt` 'training' asks it in the layout of
    `training.rationale_prompt`, the very prompt of the rationale training samples."""
    layout = config.training.rationale_prompt if config.evaluation.prompt == "training" else "student"
    return PromptsRef(config.prompts.template_dir, config.prompts.teacher_hint, layout)


def split_tables(config: FairConfig, where: RoundRef) -> tuple[TableRef, TableRef]:
    """The round's training and test examples tables."""
    prepare = tagged(prepare_examples, where, "student-inference")
    train = prepare(config.dataset, config.dataset.train_split, where, "examples")
    test = prepare(config.dataset, config.dataset.test_split, where, "test_examples")
    return train, test


def inference_stage(config: FairConfig, where: RoundRef, student: ModelRef) -> tuple[TableRef, TableRef]:
    """student_k answers the training split (the round-0 baseline on the test split is
    `tasks.evaluation.baseline_stage`, which the flows call first).

    Returns the training examples and the mistakes."""
    prompts = PromptsRef(config.prompts.template_dir)
    train, _ = split_tables(config, where)
    params = generation_params(config, evaluation=False)
    outputs = answer_table(config.student, student, train, prompts, params, where, "student_outputs")
    return train, tagged(collect_mistakes, where, "student-inference")(outputs, where)
