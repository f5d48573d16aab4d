"""Teacher call engine: cache lookup, de-duplication, shared limits, budget, timeouts, retries, backoff.

`run_requests` is the async engine; `run_requests_sync` runs it on the process-wide teacher runtime loop
(`fair_core.teachers.runtime`), where the RPM/TPM/concurrency limits of every task of a run are shared.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from fair_core.teachers.attempts import TeacherLane, budget_response, send_with_retries
from fair_core.teachers.base import ChatRequest, ChatResponse, TeacherProvider
from fair_core.teachers.cache import CACHEABLE, ReplyStoreError, ResponseCache
from fair_core.teachers.claims import RENEW_EVERY_S, Holder, Owner, wait_for_holder
from fair_core.teachers.cost import Price, call_cost, max_request_cost
from fair_core.teachers.db import database_errors
from fair_core.teachers.keeping import StoreStop, Unkept, keep, retry_held
from fair_core.teachers.ledger import RunLedger
from fair_core.teachers.runtime import RateLimits, get_runtime
from fair_core.teachers.tracking import EngineProgress, Tracker

if TYPE_CHECKING:
    from fair_core.config import TeacherConfig

logger = logging.getLogger(__name__)

DEFAULT_CONCURRENCY = 16
DEFAULT_RETRIES = 5


@dataclass(frozen=True)
class CallResult:
    """The reply to one input request; `attempts` is 0 for a cached reply."""

    request: ChatRequest
    response: ChatResponse
    cached: bool
    attempts: int


def _setting(values: Mapping[str, int] | int, teacher: str, default: int) -> int:
    return values if isinstance(values, int) else int(values.get(teacher, default))


@dataclass(frozen=True)
class CallOptions:
    """How a batch of requests is sent (per teacher name where a mapping).

    `limits` (shared RPM/TPM/concurrency, from the runtime) replace `max_concurrency`; teachers missing
    from `max_concurrency` or `max_retries` get 16 and 5. `timeouts` bound each attempt. With a `ledger`,
    each request reserves its worst-case cost (`prices`) before it is sent. `refresh` asks again and
    overwrites the cache.
    """

    max_concurrency: Mapping[str, int] = field(default_factory=dict)
    max_retries: Mapping[str, int] | int = DEFAULT_RETRIES
    limits: Mapping[str, RateLimits] | None = None
    timeouts: Mapping[str, float] | None = None
    prices: Mapping[str, Price | None] | None = None
    ledger: RunLedger | None = None
    backoff_base: float = 0.5
    backoff_max: float = 30.0
    refresh: bool = False

    @classmethod
    def for_teacher(
        cls,
        cfg: TeacherConfig,
        *,
        limits: RateLimits | None = None,
        price: Price | None = None,
        ledger: RunLedger | None = None,
        refresh: bool = False,
    ) -> CallOptions:
        """One teacher's settings from its config (concurrency, retries, timeout), limits, price, ledger."""
        return cls(
            max_concurrency={cfg.name: cfg.max_concurrency},
            max_retries=cfg.max_retries,
            limits={cfg.name: limits} if limits is not None else None,
            timeouts={cfg.name: cfg.timeout_s},
            prices={cfg.name: price},
            ledger=ledger,
            refresh=refresh,
        )


async def run_requests(
    requests: Sequence[ChatRequest],
    providers: Mapping[str, TeacherProvider],
    cache: ResponseCache,
    options: CallOptions | None = None,
    *,
    progress: Callable[[EngineProgress], None] | None = None,
) -> list[CallResult]:
    """Replies to `requests` in input order: cached ones first, the rest sent concurrently per teacher.

    Identical requests (same key) are sent once, also across processes sharing the cache file: each is
    claimed there first (`fair_core.teachers.claims`), and a request another live caller is sending is
    waited for instead. Replies go to the cache as soon as they arrive, with their spend row (one
    transaction). A reply that cannot be stored stops all sending on that cache file and the call raises
    `ReplyStoreError` once the requests in flight are done. A fatal error stops its teacher only.
    `options` say how to send (default: `CallOptions()`). With a ledger, once the budget is reached the
    rest are not sent and get an `error` reply with `meta['budget']`.
    """
    opts = options or CallOptions()
    requests = list(requests)
    missing = sorted({r.teacher for r in requests} - set(providers))
    if missing:
        raise ValueError(f"no provider for teacher(s) {', '.join(missing)}; known: {', '.join(providers)}")
    results: list[CallResult | None] = [None] * len(requests)
    groups: dict[str, list[int]] = {}
    for index, request in enumerate(requests):
        groups.setdefault(request.key(), []).append(index)
    tracker = Tracker(len(requests), sorted({r.teacher for r in requests}), progress)
    if not opts.refresh and groups:
        found = await asyncio.to_thread(cache.get_many, list(groups))
        for key, response in found.items():
            for index in groups.pop(key):
                results[index] = CallResult(requests[index], response, cached=True, attempts=0)
                tracker.cached += 1
                tracker.done += 1
    tracker.emit()
    teachers = {}
    for name in {requests[indices[0]].teacher for indices in groups.values()}:
        shared = (opts.limits or {}).get(name)
        concurrency = _setting(opts.max_concurrency, name, DEFAULT_CONCURRENCY)
        teachers[name] = TeacherLane(
            name,
            providers[name],
            shared or RateLimits(name, max_concurrency=concurrency),
            _setting(opts.max_retries, name, DEFAULT_RETRIES),
            (opts.timeouts or {}).get(name),
            (opts.prices or {}).get(name),
            window=concurrency,
        )

    ledger = opts.ledger
    owner = Owner()  # this call's claims on requests, shared with other processes through the cache file
    stop = StoreStop(cache)
    for lane in teachers.values():
        lane.halted = stop.reason
    loop = asyncio.get_running_loop()
    waited: set[int] = set()

    def on_wait(holder: Holder) -> None:
        if holder.pid not in waited:
            waited.add(holder.pid)
            logger.info(
                "response cache %s: requests are being sent by another caller (pid %d on %s); waiting for "
                "their replies instead of sending them again",
                cache.path,
                holder.pid,
                holder.host,
            )

    async def obtain(request: ChatRequest, teacher: TeacherLane) -> tuple[ChatResponse, int, bool]:
        """The reply to one request: sent by this call (claimed first), or stored by another caller."""
        key, since = request.key(), time.time() if opts.refresh else None
        while True:
            if ledger is not None and ledger.exhausted:
                tracker.budget_stopped = True
                return budget_response(ledger), 0, False
            async with teacher.window:  # from claim to stored reply: at most max_concurrency per call
                if stop.stopped:
                    return stop.response(), 0, False
                try:
                    state = await loop.run_in_executor(writer, cache.claims.claim, key, owner, opts.refresh)
                except cache.database.errors as err:
                    stop.fail(str(err))
                    return stop.response(), 0, False
                if state == "mine":
                    return await send_claimed(request, teacher, key)
            found = await wait_for_holder(cache.claims, key, owner, since, on_wait)
            if found is not None:
                return found, 0, True

    async def send_claimed(
        request: ChatRequest, teacher: TeacherLane, key: str
    ) -> tuple[ChatResponse, int, bool]:
        reserved = max_request_cost(teacher.price, request) if ledger is not None else 0.0
        claimed = True
        try:
            try:  # a shared budget's hold is written to the database: on the writer thread
                if ledger is None or ledger.budget_usd is None:
                    fits = ledger is None or ledger.reserve(reserved)
                else:
                    fits = await loop.run_in_executor(writer, ledger.reserve, reserved)
            except database_errors() as err:
                stop.fail(str(err))
                return stop.response(), 0, False
            if not fits and ledger is not None:
                tracker.budget_stopped = True
                return budget_response(ledger), 0, False
            held = ledger is not None
            try:
                response, attempts = await send_with_retries(
                    request, teacher, tracker, opts.backoff_base, opts.backoff_max
                )
                if response.meta.get("not_sent"):
                    stop.skipped += 1
                    return response, attempts, False
                cost = 0.0
                if response.status in CACHEABLE:
                    cost = call_cost(
                        teacher.price, response.prompt_tokens, response.completion_tokens, "online"
                    )
                if ledger is not None:
                    ledger.settle(reserved, cost, request.teacher)
                    held = False
            finally:
                if held and ledger is not None:
                    await loop.run_in_executor(writer, ledger.release, reserved)
            tracker.cost_usd += cost
            spend = None
            if ledger is not None:
                spend = ledger.spend_row(request.teacher, key, "online", cost, reserved_usd=reserved)
            try:
                await loop.run_in_executor(writer, keep, cache, ledger, request, response, spend, owner)
                claimed = False
            except ReplyStoreError as err:
                paid = response.status in CACHEABLE
                stop.fail(err.cause, Unkept(request, response, spend, ledger) if paid else None)
            finally:
                if ledger is not None:
                    ledger.stored()
            return response, attempts, False
        finally:
            if claimed:
                await loop.run_in_executor(writer, cache.claims.release, key, owner)

    async def run_group(indices: list[int]) -> None:
        request = requests[indices[0]]
        response, attempts, cached = await obtain(request, teachers[request.teacher])
        for index in indices:
            results[index] = CallResult(requests[index], response, cached=cached, attempts=attempts)
            if response.status in ("error", "fatal"):
                tracker.errors[requests[index].teacher] += 1
        tracker.cached += len(indices) if cached else 0
        tracker.done += len(indices)
        tracker.emit()

    writer = get_runtime().writer()  # one SQLite writer thread for the process
    if groups and stop.stopped:  # an earlier call could not store its replies: store them first
        await loop.run_in_executor(writer, retry_held, cache)  # ReplyStoreError: still failing
        stop.cause = None

    async def renew_claims() -> None:  # other processes take over a claim whose lease ran out
        while True:
            await asyncio.sleep(RENEW_EVERY_S)
            await loop.run_in_executor(writer, cache.claims.renew, owner)

    renewer = asyncio.create_task(renew_claims())
    try:
        await asyncio.gather(*(run_group(indices) for indices in groups.values()))
    finally:
        renewer.cancel()
    if stop.cause is not None and (stop.unkept or stop.skipped):
        raise stop.error()
    if any(tracker.errors.values()):
        logger.info("teacher calls finished: %s", tracker.snapshot())
    return [r for r in results if r is not None]


def run_requests_sync(
    requests: Sequence[ChatRequest],
    providers: Mapping[str, TeacherProvider],
    cache: ResponseCache,
    options: CallOptions | None = None,
    *,
    progress: Callable[[EngineProgress], None] | None = None,
    close_providers: bool = True,
) -> list[CallResult]:
    """`run_requests` on the process-wide runtime loop, from any thread (blocks until done).

    The providers' network clients belong to that loop; they are closed at the end (`close_providers`),
    and providers built on `OpenAIProvider` open a new client on their next use. Limits in `options` must
    come from the same runtime (`get_runtime().limits_for(cfg)`).
    """
    opts = options or CallOptions()

    async def main() -> list[CallResult]:
        try:
            return await run_requests(requests, providers, cache, opts, progress=progress)
        finally:
            if close_providers:
                await asyncio.gather(*(p.aclose() for p in providers.values()), return_exceptions=True)

    runtime = get_runtime()
    if runtime.in_loop_thread():  # called from a coroutine on the runtime loop: use a private loop
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="fair-teachers") as pool:
            return pool.submit(asyncio.run, main()).result()
    return runtime.run(main())
