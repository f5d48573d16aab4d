"""Teacher tasks' shared plumbing (committee and peer review): send one planned batch, retries, shards.

A teacher task plans its requests from the round's tables, then `send_planned` hands them to the core's
`TeacherCaller` (cache, shared limits, budget ledger, online or batch mode) and stores the
`teacher_calls` part. The stages submit one task per teacher x role x shard (`submit_batches`) and go on
without a teacher that cannot work at all (`available`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

from prefect import Task, get_run_logger, task
from prefect.futures import PrefectFuture
from prefect.tasks import exponential_backoff

from fair_core.config import FairConfig, TeacherConfig
from fair_core.refs import RoundRef, TableRef
from fair_core.teachers.base import ProviderSetupError
from fair_core.teachers.cache import ReplyStoreError
from fair_core.teachers.caller import PlannedCall, TeacherCaller, TeacherUnavailable
from fair_core.teachers.integrity import ReplyCacheDamaged
from fair_core.teachers.ledger import BudgetExceeded
from fair_core.teachers.replay import ReplayError
from tasks.caching import content_cache_key
from tasks.logs import task_logger
from tasks.naming import progress_key
from tasks.progress import TaskProgress
from tasks.secrets import prefect_secret_loader

#: Failures a retry would only repeat (or pay for again): never retried by Prefect.
NOT_RETRIED = (
    TeacherUnavailable,
    BudgetExceeded,
    ProviderSetupError,
    ReplyStoreError,
    ReplyCacheDamaged,
    ReplayError,
)


def retry_unless_unavailable(task: object, task_run: object, state: object) -> bool:
    """Prefect `retry_condition_fn`: retry a batch, except when its teacher is unavailable, the run's budget
    is reached, the provider cannot be built, or the reply cache cannot store replies or is damaged (a
    retry would fail the same way, or pay again for replies it could not keep)."""
    try:
        state.result()  # type: ignore[attr-defined]
    except NOT_RETRIED:
        return False
    except Exception:
        return True
    return True


def teacher_task(
    name: str, run_name: Callable[[dict[str, Any]], str]
) -> Callable[[Callable[..., TableRef]], Task]:
    """The decorator of a teacher task: content cache key, persisted result, no retry of a teacher that
    cannot work (the stage sets the retry count and delay from the run's settings, `with_retries`);
    `run_name` names each task run from its parameters (`tasks.naming`)."""
    return task(
        name=name,
        task_run_name=run_name,
        cache_key_fn=content_cache_key,
        persist_result=True,
        retry_condition_fn=retry_unless_unavailable,
    )


def send_planned(
    teacher: TeacherConfig,
    planned: Sequence[PlannedCall],
    where: RoundRef,
    part: str,
    refresh: bool = False,
    budget_usd: float | None = None,
    origin: str = "",
    cache_url: str = "",
) -> TableRef:
    """Send a planned batch (cached replies first), store its `teacher_calls` part (and `batch_jobs` for a
    batch-mode teacher), then raise if the batch did not complete; replies so far are kept either way.
    `origin`: who answers when it is not the provider (`fair_core.identity.reply_origin`); `cache_url`:
    the run's `cache.url` without its password (empty: the SQLite file under the data dir)."""
    caller = TeacherCaller(
        teacher,
        data_dir=where.data_dir,
        run_id=where.run_id,
        budget_usd=budget_usd,
        secret_loader=prefect_secret_loader,
        refresh=refresh,
        origin=origin,
        cache_url=cache_url,
    )
    key = progress_key(where, part)
    with TaskProgress(f"round {where.round} {part}", len(planned), key) as progress:
        outcome = caller.call(planned, part, progress)
    store = where.store()
    store.write("teacher_calls", outcome.calls, part=part)
    if outcome.jobs is not None:
        store.write("batch_jobs", outcome.jobs, part=part)
    task_logger().info("%s", outcome.describe())
    outcome.check()
    return where.table("teacher_calls", part)


def shard_count(config: FairConfig, requests: int) -> int:
    """Prefect tasks per teacher and role: `run.teacher_task_size` requests each (at least one task)."""
    size = config.run.teacher_task_size
    return max(1, math.ceil(requests / size)) if size else 1


def with_retries(task: Task, config: FairConfig, refresh: bool) -> Task:
    """A teacher task with the run's retry settings; `refresh` also bypasses Prefect's task cache."""
    options: dict[str, Any] = {
        "retries": config.run.teacher_task_retries,
        "retry_delay_seconds": exponential_backoff(backoff_factor=config.run.teacher_task_retry_delay_s),
        "retry_jitter_factor": 0.5,
    }
    if refresh:
        options["refresh_cache"] = True
    return task.with_options(**options)


def available(futures: list[PrefectFuture], what: str) -> list[TableRef]:
    """Results of teacher batches; an unavailable teacher (bad key, no access) is left out, and said so."""
    refs = []
    for future in futures:
        outcome = future.result(raise_on_failure=False)
        if isinstance(outcome, TeacherUnavailable):
            get_run_logger().error("%s: %s; the round goes on with the other teachers", what, outcome)
            continue
        if isinstance(outcome, BaseException):
            raise outcome
        refs.append(outcome)
    return refs
