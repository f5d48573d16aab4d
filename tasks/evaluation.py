"""Stage 5, evaluation, in Prefect: student_k+1 answers the test split (greedy unless configured; asked with
the student prompt or, with `evaluation.prompt: training`, the training layout), through the same
`student-answers` tasks as inference (tasks/inference.py); with `evaluation.seeds` the sampled evaluation is
repeated once per seed into `<table>_seeds` (`seed-answers`). The accuracy tables and plot are the report
stage's (tasks/report.py)."""

from __future__ import annotations

from dataclasses import replace

from prefect import task

from fair_core.config import FairConfig, StudentConfig
from fair_core.evaluation import accuracy
from fair_core.refs import ModelRef, PromptsRef, RoundRef, TableRef
from fair_core.students.base import GenerationParams
from tasks.caching import content_cache_key
from tasks.inference import (
    answer_rows,
    answer_table,
    evaluation_prompts,
    generation_params,
    percent,
    prepare_examples,
)
from tasks.logs import task_logger
from tasks.naming import answers_name, progress_key, tagged


def seed_part(seed: int) -> str:
    """The part of a `*_seeds` table holding one seed's answers."""
    return f"seed-{seed}"


@task(
    name="seed-answers",
    task_run_name=lambda parameters: f"{answers_name(parameters)} seed {parameters['params'].seed}",
    cache_key_fn=content_cache_key,
    persist_result=True,
)
def seed_answers(
    student: StudentConfig,
    model: ModelRef,
    examples: TableRef,
    prompts: PromptsRef,
    params: GenerationParams,
    where: RoundRef,
    table: str,
    reuse: TableRef | None = None,
) -> TableRef:
    """One seed's answers to the test split as part `seed-<params.seed>` of `table` (a `*_seeds` table):
    the rows of `reuse` (the main table, answered with this very seed) or, without it, newly generated."""
    part = seed_part(params.seed)
    stage = f"round {where.round} {table} ({model.label}) {part}"
    if reuse is not None:
        out = reuse.rows()
    else:
        key = progress_key(where, table, part)
        out = answer_rows(student, model, examples.rows(), prompts, params, stage, 0, key)
    where.store().write(table, out, part=part)
    task_logger().info("%s: accuracy %s on %d examples", stage, percent(accuracy(out)), len(out))
    return where.table(table, part)


def evaluate_table(
    config: FairConfig, model: ModelRef, test: TableRef, where: RoundRef, table: str
) -> TableRef:
    """Inside a flow: `model` answers the test split into `table` (with the first of `evaluation.seeds`
    when set); every seed's answers also go to `<table>_seeds`, one part each, for the mean and spread."""
    prompts = evaluation_prompts(config)
    params = generation_params(config, evaluation=True)
    main = answer_table(config.student, model, test, prompts, params, where, table)
    seeds = config.evaluation.seeds
    for index, seed in enumerate(seeds):
        seeded = replace(params, seed=seed)
        reuse = main if index == 0 else None
        seeded_answers = tagged(seed_answers, where, "evaluation", role="student")
        seeded_answers(config.student, model, test, prompts, seeded, where, f"{table}_seeds", reuse)
    return main


def baseline_stage(config: FairConfig, where: RoundRef, student: ModelRef) -> TableRef | None:
    """In round 0, the starting student on the test split (`baseline_evaluation`), when configured."""
    ev = config.evaluation
    if where.round != 0 or not (ev.enabled and ev.baseline):
        return None
    prepare = tagged(prepare_examples, where, "evaluation")
    test = prepare(config.dataset, config.dataset.test_split, where, "test_examples")
    return evaluate_table(config, student, test, where, "baseline_evaluation")


def evaluation_stage(config: FairConfig, where: RoundRef, trained: ModelRef) -> TableRef | None:
    """student_k+1 on the test split into the round's `evaluation` table (None when evaluation is off)."""
    if not config.evaluation.enabled:
        return None
    prepare = tagged(prepare_examples, where, "evaluation")
    test = prepare(config.dataset, config.dataset.test_split, where, "test_examples")
    return evaluate_table(config, trained, test, where, "evaluation")
