"""Prefect tasks for the student: resolve the model, answer a split (inference or evaluation), mistakes.

`answer_table` is what flows call: one `student-answers` task, or with `student.shards > 1` one
`student-answers-shard` task per contiguous part of the table (submitted together, so a Dask/Ray task
runner or a multi-GPU machine runs them in parallel) and a `concat-student-answers` task joining the parts.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prefect import task

from fair_core.config import StudentConfig
from fair_core.inference import accuracy, answer_examples, mistakes_from_outputs, shard_bounds
from fair_core.records import Example
from fair_core.refs import ModelRef, PromptsRef, RoundRef, TableRef
from fair_core.students.base import GenerationParams
from fair_core.students.factory import open_student
from fair_core.students.models import resolve_model
from tasks.caching import content_cache_key
from tasks.logs import task_logger
from tasks.progress import TaskProgress


@task(name="resolve-student", retries=1)
def resolve_student(student: StudentConfig, data_dir: str) -> ModelRef:
    """The starting student: an alias is materialised once under `<data_dir>/models`."""
    path = resolve_model(student.model, Path(data_dir).expanduser() / "models")
    return ModelRef(base=str(path), label=student.model)


def _answer(
    student: StudentConfig,
    model: ModelRef,
    rows: list[dict[str, Any]],
    prompts: PromptsRef,
    params: GenerationParams,
    stage: str,
    shard: int = 0,
) -> list[dict[str, Any]]:
    """Open the backend, answer `rows` (example rows) with a progress bar, close the backend."""
    if not rows:
        return []
    items = [Example.from_row(r) for r in rows]
    backend = open_student(student, model, shard=shard)
    try:
        with TaskProgress(stage, len(items)) as progress:
            return answer_examples(
                backend,
                items,
                prompts.load(),
                params,
                split=rows[0]["split"],
                model_label=model.label,
                progress=progress,
            )
    finally:
        backend.close()


@task(name="student-answers", cache_key_fn=content_cache_key, persist_result=True)
def student_answers(
    student: StudentConfig,
    model: ModelRef,
    examples: TableRef,
    prompts: PromptsRef,
    params: GenerationParams,
    where: RoundRef,
    table: str,
) -> TableRef:
    """The student answers every example of a table; answers are parsed and checked against gold."""
    stage = f"round {where.round} {table} ({model.label})"
    out = _answer(student, model, examples.rows(), prompts, params, stage)
    where.store().write(table, out)
    task_logger().info("%s: %s accuracy %.3f on %d examples", table, model.label, accuracy(out), len(out))
    return where.table(table)


def shard_part(shard: int, shards: int) -> str:
    return f"shard-{shard:03d}-of-{shards:03d}"


@task(name="student-answers-shard", cache_key_fn=content_cache_key, persist_result=True)
def student_answers_shard(
    student: StudentConfig,
    model: ModelRef,
    examples: TableRef,
    prompts: PromptsRef,
    params: GenerationParams,
    where: RoundRef,
    table: str,
    shard: int,
    shards: int,
) -> TableRef:
    """Part `shard` of `shards` of `student_answers`: a contiguous slice of the examples, its own backend."""
    rows = examples.rows()
    start, stop = shard_bounds(len(rows), shards)[shard]
    stage = f"round {where.round} {table} ({model.label}) shard {shard + 1}/{shards}"
    out = _answer(student, model, rows[start:stop], prompts, params, stage, shard=shard)
    part = shard_part(shard, shards)
    where.store().write(table, out, part=part)
    task_logger().info("%s %s: rows %d-%d, accuracy %.3f", table, part, start, stop, accuracy(out))
    return where.table(table, part)


@task(name="concat-student-answers", cache_key_fn=content_cache_key, persist_result=True)
def concat_answers(parts: list[TableRef], where: RoundRef, table: str) -> TableRef:
    """The shards' parts, in order, written as the whole table."""
    out = [row for part in parts for row in part.rows()]
    where.store().write(table, out)
    task_logger().info(
        "%s: accuracy %.3f on %d examples (%d shards)", table, accuracy(out), len(out), len(parts)
    )
    return where.table(table)


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
    if shards <= 1:
        return student_answers(student, model, examples, prompts, params, where, table)
    futures = [
        student_answers_shard.submit(student, model, examples, prompts, params, where, table, i, shards)
        for i in range(shards)
    ]
    return concat_answers([f.result() for f in futures], where, table)


@task(name="collect-mistakes", cache_key_fn=content_cache_key, persist_result=True)
def collect_mistakes(outputs: TableRef, where: RoundRef) -> TableRef:
    """The round's mistakes: every wrong or unparseable student answer."""
    mistakes = mistakes_from_outputs(outputs.rows())
    where.store().write("mistakes", mistakes)
    task_logger().info("round %d: %d mistakes", where.round, len(mistakes))
    return where.table("mistakes")
