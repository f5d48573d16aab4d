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
from fair_core.teachers.base import ProviderSetupError, build_provider
from fair_core.teachers.batch import build_batch_provider
from fair_core.teachers.batch_runner import BatchRun, run_batch_requests
from fair_core.teachers.cache import ResponseCache
from fair_core.teachers.cost import price_for, warn_unpriced
from fair_core.teachers.engine import CallResult, EngineProgress, run_requests_sync
from fair_core.teachers.keys import describe_teacher, resolve_api_key
from fair_core.teachers.ledger import BudgetExceeded
from fair_core.teachers.runtime import get_runtime
from tasks.caching import content_cache_key
from tasks.logs import task_logger
from tasks.progress import TaskProgress
from tasks.secrets import prefect_secret_loader


class TeacherBatchIncomplete(RuntimeError):
    """Some requests of a batch failed after their retries; finished replies are kept in the cache."""


class TeacherUnavailable(RuntimeError):
    """A teacher cannot work at all (bad key, no access): the round goes on without it; not retried."""


def retry_unless_unavailable(task: object, task_run: object, state: object) -> bool:
    """Prefect `retry_condition_fn`: retry a batch, except when its teacher is unavailable, the run's budget
    is reached or the provider cannot be built (a retry would fail the same way)."""
    try:
        state.result()  # type: ignore[attr-defined]
    except (TeacherUnavailable, BudgetExceeded, ProviderSetupError):
        return False
    except Exception:
        return True
    return True


def shard_slice(planned: Sequence[PlannedCall], shard: int, shards: int) -> Sequence[PlannedCall]:
    """Shard `shard` of `shards`: a contiguous slice, sizes differing by at most one."""
    if not 0 <= shard < shards:
        raise ValueError(f"shard {shard} of {shards}: expected 0 <= shard < shards")
    bounds = [len(planned) * i // shards for i in range(shards + 1)]
    return planned[bounds[shard] : bounds[shard + 1]]


def shard_part(name: str, shard: int, shards: int) -> str:
    """A `teacher_calls` part name: `<role>-<teacher>`, plus `-shard-00i-of-00n` when split."""
    return name if shards == 1 else f"{name}-shard-{shard + 1:03d}-of-{shards:03d}"


def response_cache_path(data_dir: str) -> Path:
    return Path(data_dir).expanduser() / "cache" / "teacher_responses.sqlite"


def examples_by_id(examples: TableRef) -> dict[str, Example]:
    return {row["id"]: Example.from_row(row) for row in examples.rows()}


def _send_batch_mode(
    teacher: TeacherConfig,
    planned: Sequence[PlannedCall],
    api_key: str,
    cache: ResponseCache,
    options: dict,
    refresh: bool,
    report: TaskProgress,
) -> BatchRun:
    """A `mode: batch` teacher: its batch API first, failed rows online, all on the shared runtime loop."""
    batch = build_batch_provider(teacher, api_key)
    online = build_provider(teacher, api_key)
    ledger, price = options.pop("ledger"), options["prices"][teacher.name]

    async def main() -> BatchRun:
        try:
            return await run_batch_requests(
                [p.request for p in planned],
                batch,
                online,
                cache,
                poll_s=teacher.batch_poll_s,
                timeout_s=teacher.batch_timeout_s,
                refresh=refresh,
                price=price,
                ledger=ledger,
                progress=report,
                online_options=options | {"ledger": ledger},
            )
        finally:
            for client in (batch, online):
                try:
                    await client.aclose()
                except Exception as err:  # closing is best effort
                    task_logger().debug("closing a provider client: %s", err)

    return get_runtime().run(main())


def _run_batch(
    teacher: TeacherConfig,
    planned: Sequence[PlannedCall],
    where: RoundRef,
    part: str,
    refresh: bool = False,
    budget_usd: float | None = None,
) -> TableRef:
    """Send a batch through the engine (cache first), store its `teacher_calls` part, and judge the result.

    Every task of the process shares the teacher's limits and the run's budget ledger (the runtime).
    """
    logger = task_logger()
    store = where.store()
    if not planned:
        store.write("teacher_calls", [], part=part)
        return where.table("teacher_calls", part)
    api_key = resolve_api_key(teacher, prefect_secret_loader)
    runtime = get_runtime()
    cache_path = response_cache_path(where.data_dir)
    ledger = runtime.ledger(cache_path, where.run_id, budget_usd)
    price = price_for(teacher)
    if budget_usd is not None:
        warn_unpriced([teacher])
    options: dict = {
        "max_concurrency": {teacher.name: teacher.max_concurrency},
        "max_retries": teacher.max_retries,
        "limits": {teacher.name: runtime.limits_for(teacher)},
        "timeouts": {teacher.name: teacher.timeout_s},
        "prices": {teacher.name: price},
        "ledger": ledger,
    }
    jobs: list[dict] = []
    with (
        ResponseCache(cache_path) as cache,
        TaskProgress(f"round {where.round} {part}", len(planned)) as progress,
    ):

        def report(p: EngineProgress) -> None:
            progress(p.done, p.total, p.info())

        results: list[CallResult]
        if teacher.mode == "batch":
            run = _send_batch_mode(teacher, planned, api_key, cache, options, refresh, progress)
            results, jobs = run.results, [job.row() for job in run.jobs]
        else:
            provider = build_provider(teacher, api_key)
            results = run_requests_sync(
                [p.request for p in planned],
                {teacher.name: provider},
                cache,
                refresh=refresh,
                progress=report,
                **options,
            )
        cached_replies = len(cache)
    rows = call_rows(planned, results, {teacher.name: price})
    store.write("teacher_calls", rows, part=part)
    if teacher.mode == "batch":
        store.write("batch_jobs", jobs, part=part)
    cached = sum(r["cached"] for r in rows)
    by_status = {s: sum(r["status"] == s for r in rows) for s in ("ok", "refused", "error", "fatal")}
    logger.info(
        "%s: %d calls, %d from cache, statuses %s, $%.4f paid (run total $%.4f)",
        part,
        len(rows),
        cached,
        by_status,
        sum(r["cost_usd"] for r in rows),
        ledger.total_usd,
    )
    if any(r.response.meta.get("budget") for r in results):
        raise BudgetExceeded(ledger.message(cached_replies))
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
    refresh: bool = False,
    budget_usd: float | None = None,
    shard: int = 0,
    shards: int = 1,
) -> TableRef:
    """One teacher's feedback on every mistake, or its rationale for every mistaken question (shard
    `shard` of `shards`: a contiguous slice of the requests, stored as its own `teacher_calls` part).

    `refresh` re-asks every request (the flow also bypasses this task's Prefect cache); `budget_usd` is the
    run's budget. Neither is part of the cache key."""
    planned = plan_committee_calls(teacher, role, examples_by_id(examples), mistakes.rows(), prompts.load())
    part = shard_part(f"{role}-{teacher.name}", shard, shards)
    return _run_batch(teacher, shard_slice(planned, shard, shards), where, part, refresh, budget_usd)


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
    reviewer: TeacherConfig,
    examples: TableRef,
    rationales: TableRef,
    prompts: PromptsRef,
    where: RoundRef,
    refresh: bool = False,
    budget_usd: float | None = None,
    shard: int = 0,
    shards: int = 1,
) -> TableRef:
    """One teacher grades every other teacher's rationale 1-5 (the other arguments: see ask_teacher)."""
    planned = plan_reviews(reviewer, examples_by_id(examples), rationales.rows(), prompts.load())
    part = shard_part(f"review-{reviewer.name}", shard, shards)
    return _run_batch(reviewer, shard_slice(planned, shard, shards), where, part, refresh, budget_usd)


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
