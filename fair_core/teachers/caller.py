"""One teacher's calls end to end: key, cache, shared limits, budget, prices, online or batch, outcome."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

from fair_core.config import TeacherConfig
from fair_core.teachers.base import ChatRequest, TeacherProvider, build_provider
from fair_core.teachers.batch import BatchProvider, build_batch_provider
from fair_core.teachers.batch_runner import BatchRun, run_batch_requests
from fair_core.teachers.cache import ResponseCache
from fair_core.teachers.calls import (
    STATUSES,
    CallOutcome,
    CallRole,
    PlannedCall,
    Progress,
    TeacherBatchIncomplete,
    TeacherUnavailable,
    call_rows,
    response_cache_path,
)
from fair_core.teachers.cost import Price, price_for, warn_unpriced
from fair_core.teachers.db import is_url
from fair_core.teachers.engine import CallOptions, CallResult, run_requests_sync
from fair_core.teachers.integrity import check_reply_cache
from fair_core.teachers.keys import SecretLoader, describe_teacher, resolve_api_key
from fair_core.teachers.runtime import get_runtime
from fair_core.teachers.tracking import EngineProgress

logger = logging.getLogger(__name__)

__all__ = [
    "STATUSES",
    "CallOutcome",
    "CallRole",
    "PlannedCall",
    "Progress",
    "TeacherBatchIncomplete",
    "TeacherCaller",
    "TeacherUnavailable",
    "call_rows",
    "response_cache_path",
]


class TeacherCaller:
    """Sends one teacher's planned calls: cache first, then online or through its batch API (`mode`).

    Every caller of the process shares the teacher's limits and the run's budget ledger (the runtime).
    `origin` (`fair_core.identity.reply_origin`) marks requests answered by the simulator: part of their
    keys. The reply cache is checked (`check_reply_cache`) before anything is read, paid or sent.
    `cache_url` (`cache.url`): a PostgreSQL database shared by workers instead of the data dir's file.
    """

    def __init__(
        self,
        teacher: TeacherConfig,
        *,
        data_dir: str,
        run_id: str,
        budget_usd: float | None = None,
        secret_loader: SecretLoader | None = None,
        refresh: bool = False,
        origin: str = "",
        cache_url: str = "",
    ) -> None:
        self.teacher, self.run_id, self.budget_usd = teacher, run_id, budget_usd
        self.data_dir, self.cache_path = data_dir, response_cache_path(data_dir)
        self._cache_url = cache_url  # may hold a password: never in a repr, log or row
        self.secret_loader, self.refresh, self.origin = secret_loader, refresh, origin

    def __repr__(self) -> str:
        return f"TeacherCaller({self.teacher.name!r}, run_id={self.run_id!r})"

    def call(
        self, planned: Sequence[PlannedCall], label: str, progress: Progress | None = None
    ) -> CallOutcome:
        """Replies to `planned` (input order) as `teacher_calls` rows; `label` names the batch in logs."""
        teacher = self.teacher
        if not planned:
            return CallOutcome([], None, label, describe_teacher(teacher))
        if teacher.provider == "replay":  # answered from its recording: no key, no cache, nothing sent
            from fair_core.teachers.replay_provider import replay_calls

            return replay_calls(teacher, planned, label, self.data_dir, self.run_id, progress)
        if self.origin:
            planned = [replace(p, request=replace(p.request, origin=self.origin)) for p in planned]
        api_key = resolve_api_key(teacher, self.secret_loader)
        where = self._cache_url or self.cache_path
        if not is_url(where):
            check_reply_cache(where)  # before the ledger reads its spend from the same file
        runtime = get_runtime()
        ledger = runtime.ledger(where, self.run_id, self.budget_usd)
        price = price_for(teacher)
        if self.budget_usd is not None:
            warn_unpriced([teacher])
        limits = runtime.limits_for(teacher, str(where) if is_url(where) else None)  # shared on Postgres
        options = CallOptions.for_teacher(
            teacher, limits=limits, price=price, ledger=ledger, refresh=self.refresh
        )
        requests = [p.request for p in planned]
        jobs: list[dict[str, Any]] | None = None
        with ResponseCache(where) as cache:
            if teacher.mode == "batch":
                results, jobs = self._batch(requests, api_key, cache, options, price, progress)
            else:
                provider = build_provider(teacher, api_key)
                report = _engine_report(progress)
                results = run_requests_sync(
                    requests, {teacher.name: provider}, cache, options, progress=report
                )
        budget_stop = None
        if any(r.response.meta.get("budget") for r in results):
            ledger.wait_idle(teacher.timeout_s)  # the run's requests still in flight are stored first
            budget_stop = ledger.message(ledger.cached_replies())
        return CallOutcome(
            calls=call_rows(planned, results, {teacher.name: price}),
            jobs=jobs,
            label=label,
            teacher=describe_teacher(teacher),
            run_total_usd=ledger.total_usd,
            budget_stop=budget_stop,
        )

    def _batch(
        self,
        requests: list[ChatRequest],
        api_key: str,
        cache: ResponseCache,
        options: CallOptions,
        price: Price | None,
        progress: Progress | None,
    ) -> tuple[list[CallResult], list[dict[str, Any]]]:
        """A `mode: batch` teacher: its batch API first, failed rows online, on the shared runtime loop."""
        teacher = self.teacher
        batch = build_batch_provider(teacher, api_key)
        online = build_provider(teacher, api_key)

        async def main() -> BatchRun:
            try:
                return await run_batch_requests(
                    requests,
                    batch,
                    online,
                    cache,
                    poll_s=teacher.batch_poll_s,
                    timeout_s=teacher.batch_timeout_s,
                    refresh=self.refresh,
                    price=price,
                    ledger=options.ledger,
                    progress=progress,
                    online_options=options,
                )
            finally:
                await _close(batch, online)

        run = get_runtime().run(main())
        return run.results, [job.row() for job in run.jobs]


def _engine_report(progress: Progress | None) -> Callable[[EngineProgress], None] | None:
    if progress is None:
        return None

    def report(p: EngineProgress) -> None:
        progress(p.done, p.total, p.info())

    return report


async def _close(*clients: TeacherProvider | BatchProvider) -> None:
    for client in clients:
        try:
            await client.aclose()
        except Exception as err:  # closing is best effort
            logger.debug("closing a provider client: %s", err)
