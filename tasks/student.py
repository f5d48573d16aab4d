"""Prefect tasks for the student: resolve the model, answer a split (inference or evaluation), mistakes."""

from __future__ import annotations

from pathlib import Path

from prefect import task

from fair_core.config import StudentConfig
from fair_core.inference import accuracy, answer_examples, mistakes_from_outputs
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
    rows = examples.rows()
    items = [Example.from_row(r) for r in rows]
    backend = open_student(student, model)
    try:
        with TaskProgress(f"round {where.round} {table} ({model.label})", len(items)) as progress:
            out = answer_examples(
                backend,
                items,
                prompts.load(),
                params,
                split=rows[0]["split"] if rows else "",
                model_label=model.label,
                progress=progress,
            )
    finally:
        backend.close()
    where.store().write(table, out)
    task_logger().info("%s: %s accuracy %.3f on %d examples", table, model.label, accuracy(out), len(out))
    return where.table(table)


@task(name="collect-mistakes", cache_key_fn=content_cache_key, persist_result=True)
def collect_mistakes(outputs: TableRef, where: RoundRef) -> TableRef:
    """The round's mistakes: every wrong or unparseable student answer."""
    mistakes = mistakes_from_outputs(outputs.rows())
    where.store().write("mistakes", mistakes)
    task_logger().info("round %d: %d mistakes", where.round, len(mistakes))
    return where.table("mistakes")
