"""Prefect tasks for the teacher committee: one task per teacher x role batch, then assembly and review."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Literal

from prefect import task
from prefect.tasks import exponential_backoff

from fair_core.committee import (
    PlannedCall,
    call_rows,
    feedback_rows,
    plan_committee_calls,
    plan_reviews,
    rationale_rows,
    review_rows,
)
from fair_core.config import ReviewConfig, TeacherConfig
from fair_core.records import Example
from fair_core.refs import PromptsRef, RoundRef, TableRef
from fair_core.review import select_rationales
from fair_core.teachers.base import build_provider
from fair_core.teachers.cache import ResponseCache
from fair_core.teachers.engine import EngineProgress, run_requests_sync
from fair_core.teachers.keys import describe_teacher, resolve_api_key
from tasks.caching import content_cache_key
from tasks.logs import task_logger
from tasks.progress import TaskProgress
from tasks.secrets import prefect_secret_loader


class TeacherBatchIncomplete(RuntimeError):
    """Some requests of a batch failed after their retries; finished replies are kept in the cache."""


class TeacherUnavailable(RuntimeError):
    """A teacher cannot work at all (bad key, no access): the round goes on without it; not retried."""


def retry_unless_unavailable(task: object, task_run: object, state: object) -> bool:
    """Prefect `retry_condition_fn`: retry a batch, except when its teacher is unavailable."""
    try:
        state.result()  # type: ignore[attr-defined]
    except TeacherUnavailable:
        return False
    except Exception:
        return True
    return True


def response_cache_path(data_dir: str) -> Path:
    return Path(data_dir).expanduser() / "cache" / "teacher_responses.sqlite"


def examples_by_id(examples: TableRef) -> dict[str, Example]:
    return {row["id"]: Example.from_row(row) for row in examples.rows()}


def _run_batch(
    teacher: TeacherConfig, planned: Sequence[PlannedCall], where: RoundRef, part: str
) -> TableRef:
    """Send a batch through the engine (cache first), store its `teacher_calls` part, and judge the result."""
    logger = task_logger()
    store = where.store()
    if not planned:
        store.write("teacher_calls", [], part=part)
        return where.table("teacher_calls", part)
    api_key = resolve_api_key(teacher, prefect_secret_loader)
    provider = build_provider(teacher, api_key)
    with (
        ResponseCache(response_cache_path(where.data_dir)) as cache,
        TaskProgress(f"round {where.round} {part}", len(planned)) as progress,
    ):

        def report(p: EngineProgress) -> None:
            progress(p.done, p.total, f"{p.cached} cached, {sum(p.errors.values())} errors")

        results = run_requests_sync(
            [p.request for p in planned],
            {teacher.name: provider},
            cache,
            max_concurrency={teacher.name: teacher.max_concurrency},
            max_retries=teacher.max_retries,
            progress=report,
        )
    rows = call_rows(planned, results)
    store.write("teacher_calls", rows, part=part)
    cached = sum(r["cached"] for r in rows)
    by_status = {s: sum(r["status"] == s for r in rows) for s in ("ok", "refused", "error", "fatal")}
    logger.info("%s: %d calls, %d from cache, statuses %s", part, len(rows), cached, by_status)
    if by_status["fatal"]:
        first = next(r["error"] for r in rows if r["status"] == "fatal")
        raise TeacherUnavailable(f"{describe_teacher(teacher)} stopped: {first}")
    if by_status["error"]:
        first = next(r["error"] for r in rows if r["status"] == "error")
        raise TeacherBatchIncomplete(
            f"{describe_teacher(teacher)} {part}: {by_status['error']} of {len(rows)} requests failed after "
            f"retries (first: {first}). Finished replies are cached; a retry sends only the missing ones."
        )
    return where.table("teacher_calls", part)


@task(
    name="teacher-batch",
    cache_key_fn=content_cache_key,
    persist_result=True,
    retries=2,
    retry_delay_seconds=exponential_backoff(backoff_factor=10),
    retry_jitter_factor=0.5,
    retry_condition_fn=retry_unless_unavailable,
)
def ask_teacher(
    teacher: TeacherConfig,
    role: Literal["feedback", "rationale"],
    examples: TableRef,
    mistakes: TableRef,
    prompts: PromptsRef,
    where: RoundRef,
) -> TableRef:
    """One teacher's feedback on every mistake, or its rationale for every mistaken question."""
    planned = plan_committee_calls(teacher, role, examples_by_id(examples), mistakes.rows(), prompts.load())
    return _run_batch(teacher, planned, where, f"{role}-{teacher.name}")


@task(name="assemble-committee", cache_key_fn=content_cache_key, persist_result=True)
def assemble_committee(
    calls: list[TableRef], examples: TableRef, where: RoundRef
) -> tuple[TableRef, TableRef]:
    """The feedback and rationales tables from the committee's calls (rationale answers parsed)."""
    rows = [row for ref in calls for row in ref.rows()]
    store = where.store()
    store.write("feedback", feedback_rows(rows))
    store.write("rationales", rationale_rows(rows, examples_by_id(examples)))
    return where.table("feedback"), where.table("rationales")


@task(
    name="review-batch",
    cache_key_fn=content_cache_key,
    persist_result=True,
    retries=2,
    retry_delay_seconds=exponential_backoff(backoff_factor=10),
    retry_jitter_factor=0.5,
    retry_condition_fn=retry_unless_unavailable,
)
def review_rationales(
    reviewer: TeacherConfig, examples: TableRef, rationales: TableRef, prompts: PromptsRef, where: RoundRef
) -> TableRef:
    """One teacher grades every other teacher's rationale 1-5."""
    planned = plan_reviews(reviewer, examples_by_id(examples), rationales.rows(), prompts.load())
    return _run_batch(reviewer, planned, where, f"review-{reviewer.name}")


@task(name="select-rationales", cache_key_fn=content_cache_key, persist_result=True)
def select(
    review: ReviewConfig, rationales: TableRef, review_calls: list[TableRef], where: RoundRef
) -> tuple[TableRef, TableRef]:
    """Parse the review scores and decide which rationales are accepted."""
    reviews = review_rows([row for ref in review_calls for row in ref.rows()])
    acceptance = select_rationales(
        rationales.rows(),
        reviews,
        threshold=review.threshold,
        min_valid=review.min_valid_scores,
        require_gold=review.gold_check,
        review_enabled=review.enabled,
    )
    store = where.store()
    store.write("reviews", reviews)
    store.write("acceptance", acceptance)
    task_logger().info(
        "round %d: %d of %d rationales accepted",
        where.round,
        sum(a["accepted"] for a in acceptance),
        len(acceptance),
    )
    return where.table("reviews"), where.table("acceptance")
