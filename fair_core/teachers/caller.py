"""One teacher's calls end to end: key, cache, shared limits, budget, prices, online or batch, outcome."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from fair_core.config import TeacherConfig
from fair_core.teachers.base import ChatRequest, TeacherProvider, build_provider
from fair_core.teachers.batch import BatchProvider, build_batch_provider
from fair_core.teachers.batch_runner import BatchRun, run_batch_requests
from fair_core.teachers.cache import ResponseCache
from fair_core.teachers.cost import CallMode, Price, call_cost, price_for, warn_unpriced
from fair_core.teachers.engine import CallOptions, CallResult, run_requests_sync
from fair_core.teachers.integrity import check_reply_cache
from fair_core.teachers.keys import SecretLoader, describe_teacher, resolve_api_key
from fair_core.teachers.ledger import BudgetExceeded
from fair_core.teachers.runtime import get_runtime
from fair_core.teachers.tracking import EngineProgress

logger = logging.getLogger(__name__)

CallRole = Literal["feedback", "rationale", "review"]
#: `progress(done, total, info)`: requests done of total and a short status line.
Progress = Callable[[int, int, str], None]
STATUSES = ("ok", "refused", "error", "fatal")


class TeacherUnavailable(RuntimeError):
    """A teacher cannot work at all (bad key, no access): the round goes on without it; not retried."""


class TeacherBatchIncomplete(RuntimeError):
    """Some requests of a batch failed after their retries; finished replies are kept in the cache."""


@dataclass(frozen=True)
class PlannedCall:
    """One request to send, with what it is about (for the `teacher_calls` table)."""

    request: ChatRequest
    role: CallRole
    example_id: str
    target: str | None = None


def response_cache_path(data_dir: str | Path) -> Path:
    """Where a data directory keeps the teacher response cache (and its sidecar tables)."""
    return Path(data_dir).expanduser() / "cache" / "teacher_responses.sqlite"


def call_rows(
    planned: Sequence[PlannedCall],
    results: Sequence[CallResult],
    prices: Mapping[str, Price | None] | None = None,
) -> list[dict[str, Any]]:
    """Rows of the `teacher_calls` table (one per request, reply text, usage and cost included).

    `mode` is how the reply came: `online`, `batch` or `cache` (also a repeat of a request already in this
    batch). `cost_usd` is what this run paid for the row (0 from the cache); `billed_usd` is what the reply
    cost when it was obtained (batch replies at the batch price), so cached rows keep their price visible.
    Teachers without a price (see `fair_core.teachers.cost`) cost 0.
    """
    rows = []
    paid: set[str] = set()
    for plan, result in zip(planned, results, strict=True):
        response = result.response
        key = plan.request.key()
        origin: CallMode = "batch" if response.meta.get("mode") == "batch" else "online"
        billed = 0.0
        if response.status in ("ok", "refused"):
            price = (prices or {}).get(plan.request.teacher)
            billed = call_cost(price, response.prompt_tokens, response.completion_tokens, origin)
        mode: CallMode = "cache" if result.cached or key in paid else origin
        if mode != "cache":
            paid.add(key)
        rows.append(
            {
                "request_key": key,
                "teacher": plan.request.teacher,
                "role": plan.role,
                "example_id": plan.example_id,
                "target": plan.target,
                "provider": plan.request.provider,
                "model": plan.request.model,
                "status": response.status,
                "text": response.text,
                "error": response.error,
                "prompt_tokens": response.prompt_tokens,
                "completion_tokens": response.completion_tokens,
                "latency_s": response.latency_s,
                "cached": result.cached,
                "attempts": result.attempts,
                "mode": mode,
                "cost_usd": 0.0 if mode == "cache" else billed,
                "billed_usd": billed,
            }
        )
    return rows


@dataclass
class CallOutcome:
    """The `teacher_calls` rows of one `TeacherCaller.call`, its `batch_jobs` rows (None when online),
    and what `check` judges: the budget stop message, the teacher's description, the run's spend."""

    calls: list[dict[str, Any]]
    jobs: list[dict[str, Any]] | None
    label: str = ""
    teacher: str = ""
    run_total_usd: float = 0.0
    budget_stop: str | None = field(default=None, repr=False)

    def statuses(self) -> dict[str, int]:
        return {s: sum(r["status"] == s for r in self.calls) for s in STATUSES}

    def describe(self) -> str:
        """The one log line: calls, cache hits, statuses, paid now and the run's total."""
        cached = sum(r["cached"] for r in self.calls)
        paid = sum(r["cost_usd"] for r in self.calls)
        return (
            f"{self.label}: {len(self.calls)} calls, {cached} from cache, statuses {self.statuses()}, "
            f"${paid:.4f} paid (run total ${self.run_total_usd:.4f})"
        )

    def check(self) -> None:
        """Raise `BudgetExceeded`, `TeacherUnavailable` (a fatal error) or `TeacherBatchIncomplete` (errors
        after retries), in that order; return when every request has a reply."""
        if self.budget_stop is not None:
            raise BudgetExceeded(self.budget_stop)
        by_status = self.statuses()
        if by_status["fatal"]:
            first = next(r["error"] for r in self.calls if r["status"] == "fatal")
            raise TeacherUnavailable(f"{self.teacher} stopped: {first}")
        if by_status["error"]:
            first = next(r["error"] for r in self.calls if r["status"] == "error")
            raise TeacherBatchIncomplete(
                f"{self.teacher} {self.label}: {by_status['error']} of {len(self.calls)} requests failed "
                f"after retries (first: {first}). Finished replies are cached; a retry sends only the "
                "missing ones."
            )


class TeacherCaller:
    """Sends one teacher's planned calls: cache first, then online or through its batch API (`mode`).

    Every caller of the process shares the teacher's limits and the run's budget ledger (the runtime).
    `origin` (`fair_core.identity.reply_origin`) marks requests answered by the simulator: part of their
    keys. The reply cache is checked (`check_reply_cache`) before anything is read, paid or sent.
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
    ) -> None:
        self.teacher, self.run_id, self.budget_usd = teacher, run_id, budget_usd
        self.cache_path = response_cache_path(data_dir)
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
        if self.origin:
            planned = [replace(p, request=replace(p.request, origin=self.origin)) for p in planned]
        api_key = resolve_api_key(teacher, self.secret_loader)
        check_reply_cache(self.cache_path)  # before the ledger reads its spend from the same file
        runtime = get_runtime()
        ledger = runtime.ledger(self.cache_path, self.run_id, self.budget_usd)
        price = price_for(teacher)
        if self.budget_usd is not None:
            warn_unpriced([teacher])
        options = CallOptions.for_teacher(
            teacher, limits=runtime.limits_for(teacher), price=price, ledger=ledger, refresh=self.refresh
        )
        requests = [p.request for p in planned]
        jobs: list[dict[str, Any]] | None = None
        with ResponseCache(self.cache_path) as cache:
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
