"""Stage 2, the committee, as Prefect tasks: every teacher's feedback on each mistake and its rationale
for each mistaken question (one task per teacher x role x shard), then the feedback and rationale tables.

`committee_stage` composes them (a flow calls it); peer review is the next stage (tasks/review.py).
"""

from __future__ import annotations

from typing import Literal

from prefect import task

from fair_core.committee import feedback_rows, plan_committee_calls, rationale_rows
from fair_core.config import FairConfig, TeacherConfig
from fair_core.config.cache import without_password
from fair_core.identity import reply_origin
from fair_core.records import examples_by_id
from fair_core.refs import PromptsRef, RoundRef, TableRef
from fair_core.shards import shard_part, shard_slice
from tasks.caching import content_cache_key
from tasks.naming import round_task_name, tagged, teacher_batch_name
from tasks.teachers import (
    available,
    send_planned,
    shard_count,
    teacher_task,
    with_retries,
)


@teacher_task("teacher-batch", teacher_batch_name)
def ask_teacher(
    teacher: TeacherConfig,
    role: Literal["feedback", "rationale"],
    examples: TableRef,
    mistakes: TableRef,
    prompts: PromptsRef,
    where: RoundRef,
    refresh: bool = False,
    budget_usd: float | None = None,
    shard: int = 0,
    shards: int = 1,
    origin: str = "",
    cache_url: str = "",
) -> TableRef:
    """One teacher's feedback on every mistake, or its rationale for every mistaken question (shard
    `shard` of `shards`: a contiguous slice of the requests, stored as its own `teacher_calls` part).

    `refresh` re-asks every request (the stage also bypasses this task's Prefect cache); `budget_usd` is
    the run's budget. Neither is part of the cache key. `origin` marks simulated replies (the run's
    `reply_origin`), part of every request key. `cache_url`: where replies are kept (`send_planned`)."""
    planned = plan_committee_calls(
        teacher, role, examples_by_id(examples.rows()), mistakes.rows(), prompts.load()
    )
    part = shard_part(f"{role}-{teacher.name}", shard, shards)
    return send_planned(
        teacher, shard_slice(planned, shard, shards), where, part, refresh, budget_usd, origin, cache_url
    )


@task(
    name="assemble-committee",
    task_run_name=round_task_name("assemble committee"),
    cache_key_fn=content_cache_key,
    persist_result=True,
)
def assemble_committee(
    calls: list[TableRef], examples: TableRef, where: RoundRef
) -> tuple[TableRef, TableRef]:
    """The feedback and rationales tables from the committee's calls (rationale answers parsed)."""
    rows = [row for ref in calls for row in ref.rows()]
    store = where.store()
    store.write("feedback", feedback_rows(rows))
    store.write("rationales", rationale_rows(rows, examples_by_id(examples.rows())))
    return where.table("feedback"), where.table("rationales")


def committee_stage(
    config: FairConfig, where: RoundRef, train: TableRef, mistakes: TableRef, refresh: bool = False
) -> tuple[TableRef, TableRef]:
    """Feedback and rationales from every teacher on the round's mistakes; returns both tables."""
    prompts = PromptsRef(config.prompts.template_dir, config.prompts.teacher_hint)
    ask = with_retries(ask_teacher, config, refresh)
    budget = config.run.budget_usd
    shards = shard_count(config, len(mistakes.rows()))
    origin = reply_origin(config)
    cache = without_password(config.cache.url)
    futures = [
        tagged(ask, where, "teacher-committee", teacher=t.name, role=role).submit(
            t, role, train, mistakes, prompts, where, refresh, budget, shard, shards, origin, cache_url=cache
        )
        for role in ("feedback", "rationale")
        for t in config.teachers
        for shard in range(shards)
    ]
    assemble = tagged(assemble_committee, where, "teacher-committee")
    return assemble(available(futures, "committee"), train, where)
