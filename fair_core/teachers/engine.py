"""Teacher call engine: cache lookup, de-duplication, bounded concurrency per teacher, retries, backoff."""

from __future__ import annotations

import asyncio
import logging
import random
import sqlite3
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from fair_core.teachers.base import ChatRequest, ChatResponse, ProviderError, TeacherProvider
from fair_core.teachers.cache import CACHEABLE, ResponseCache

logger = logging.getLogger(__name__)

DEFAULT_CONCURRENCY = 16
DEFAULT_RETRIES = 5
#: A provider's Retry-After is honoured up to this many seconds.
MAX_RETRY_AFTER_S = 600.0


@dataclass(frozen=True)
class CallResult:
    """The reply to one input request; `attempts` is 0 for a cached reply."""

    request: ChatRequest
    response: ChatResponse
    cached: bool
    attempts: int


@dataclass(frozen=True)
class EngineProgress:
    """Where a batch stands: requests done of total, from cache, in flight, sent, failures per teacher."""

    done: int
    total: int
    cached: int
    in_flight: int
    sent: int
    retries: int
    errors: dict[str, int] = field(default_factory=dict)

    def __str__(self) -> str:
        errors = ", ".join(f"{t}={n}" for t, n in sorted(self.errors.items()) if n) or "none"
        return (
            f"{self.done}/{self.total} done ({self.cached} cached, {self.in_flight} in flight, "
            f"{self.sent} sent, {self.retries} retries; errors: {errors})"
        )


class _Tracker:
    def __init__(self, total: int, teachers: Sequence[str], report: Callable[[EngineProgress], None] | None):
        self.total, self.report = total, report
        self.done = self.cached = self.in_flight = self.sent = self.retries = 0
        self.errors = dict.fromkeys(teachers, 0)

    def snapshot(self) -> EngineProgress:
        return EngineProgress(
            self.done, self.total, self.cached, self.in_flight, self.sent, self.retries, dict(self.errors)
        )

    def emit(self) -> None:
        if self.report is None:
            return
        try:
            self.report(self.snapshot())
        except Exception:  # a broken progress display must not lose the replies
            logger.exception("progress callback failed; no further progress is reported")
            self.report = None


class _Teacher:
    """Per-teacher state: provider, concurrency bound, retry budget, pause (Retry-After), fatal stop."""

    def __init__(self, name: str, provider: TeacherProvider, concurrency: int, retries: int) -> None:
        self.name, self.provider, self.retries = name, provider, retries
        self.semaphore = asyncio.Semaphore(max(1, concurrency))
        self.paused_until = 0.0
        self.fatal: str | None = None

    def stop(self, request: ChatRequest, error: str) -> None:
        if self.fatal is None:
            self.fatal = (
                f"teacher {self.name!r} ({request.provider}, {request.model}) stopped after a fatal error, "
                f"so its remaining requests were not sent: {error}"
            )
            logger.warning("%s", self.fatal)

    def fatal_response(self) -> ChatResponse:
        return ChatResponse.failure("fatal", self.fatal or f"teacher {self.name!r} stopped")

    async def wait_if_paused(self) -> None:
        loop = asyncio.get_running_loop()
        while (delay := self.paused_until - loop.time()) > 0:
            await asyncio.sleep(delay)


def _setting(values: Mapping[str, int] | int, teacher: str, default: int) -> int:
    return values if isinstance(values, int) else int(values.get(teacher, default))


async def _send(
    request: ChatRequest, teacher: _Teacher, tracker: _Tracker, backoff_base: float, backoff_max: float
) -> tuple[ChatResponse, int]:
    """One request to its teacher until a reply, a non-retryable error or the retry budget is spent."""
    attempts = 0
    loop = asyncio.get_running_loop()
    while True:
        await teacher.wait_if_paused()
        if teacher.fatal:
            return teacher.fatal_response(), attempts
        async with teacher.semaphore:
            await teacher.wait_if_paused()  # a 429 may have paused the teacher while this one queued
            if teacher.fatal:
                return teacher.fatal_response(), attempts
            attempts += 1
            tracker.in_flight += 1
            tracker.sent += 1
            error: ProviderError | None = None
            try:
                response = await teacher.provider.complete(request)
            except ProviderError as err:
                error = err
            except Exception as err:  # a provider bug or an unmapped SDK error: report it, don't retry
                error = ProviderError("invalid", f"unexpected {type(err).__name__}: {err}")
            finally:
                tracker.in_flight -= 1
        if error is None:
            if response.status == "fatal":
                teacher.stop(request, response.error or "fatal error")
                return teacher.fatal_response(), attempts
            return response, attempts
        where = f"teacher {teacher.name!r}"
        if error.kind == "refused":
            return ChatResponse(text=None, status="refused", error=error.message), attempts
        if error.kind == "fatal":
            teacher.stop(request, error.message)
            return teacher.fatal_response(), attempts
        if error.kind == "invalid":
            return ChatResponse.failure("error", f"{where}: request rejected: {error.message}"), attempts
        if attempts > teacher.retries:
            message = f"{where}: gave up after {attempts} attempts: {error.message}"
            return ChatResponse.failure("error", message), attempts
        delay = random.uniform(0.0, min(backoff_max, backoff_base * 2 ** (attempts - 1)))
        if error.retry_after is not None:
            wait = min(error.retry_after, MAX_RETRY_AFTER_S)
            teacher.paused_until = max(teacher.paused_until, loop.time() + wait)
            delay = max(delay, wait)
        tracker.retries += 1
        tracker.emit()
        logger.debug("%s: attempt %d failed (%s), retrying in %.2fs", where, attempts, error.message, delay)
        await asyncio.sleep(delay)


async def run_requests(
    requests: Sequence[ChatRequest],
    providers: Mapping[str, TeacherProvider],
    cache: ResponseCache,
    *,
    max_concurrency: Mapping[str, int],
    max_retries: Mapping[str, int] | int = DEFAULT_RETRIES,
    refresh: bool = False,
    progress: Callable[[EngineProgress], None] | None = None,
    backoff_base: float = 0.5,
    backoff_max: float = 30.0,
) -> list[CallResult]:
    """Replies to `requests` in input order: cached ones first, the rest sent concurrently per teacher.

    Identical requests (same key) are sent once. Replies go to the cache as soon as they arrive; `refresh`
    asks again and overwrites. A fatal error stops its teacher only. Teachers missing from `max_concurrency`
    or `max_retries` get 16 and 5.
    """
    requests = list(requests)
    missing = sorted({r.teacher for r in requests} - set(providers))
    if missing:
        raise ValueError(f"no provider for teacher(s) {', '.join(missing)}; known: {', '.join(providers)}")
    results: list[CallResult | None] = [None] * len(requests)
    groups: dict[str, list[int]] = {}
    for index, request in enumerate(requests):
        groups.setdefault(request.key(), []).append(index)
    tracker = _Tracker(len(requests), sorted({r.teacher for r in requests}), progress)
    if not refresh and groups:
        for key, response in cache.get_many(groups).items():
            for index in groups.pop(key):
                results[index] = CallResult(requests[index], response, cached=True, attempts=0)
                tracker.cached += 1
                tracker.done += 1
    tracker.emit()
    teachers = {
        name: _Teacher(
            name,
            providers[name],
            _setting(max_concurrency, name, DEFAULT_CONCURRENCY),
            _setting(max_retries, name, DEFAULT_RETRIES),
        )
        for name in {requests[indices[0]].teacher for indices in groups.values()}
    }

    async def run_group(indices: list[int]) -> None:
        request = requests[indices[0]]
        response, attempts = await _send(
            request, teachers[request.teacher], tracker, backoff_base, backoff_max
        )
        if response.status in CACHEABLE:
            try:
                await asyncio.to_thread(cache.put, request, response)
            except sqlite3.Error as err:
                logger.error("response cache %s: could not store a reply (%s)", cache.path, err)
        for index in indices:
            results[index] = CallResult(requests[index], response, cached=False, attempts=attempts)
            if response.status in ("error", "fatal"):
                tracker.errors[requests[index].teacher] += 1
        tracker.done += len(indices)
        tracker.emit()

    await asyncio.gather(*(run_group(indices) for indices in groups.values()))
    if any(tracker.errors.values()):
        logger.info("teacher calls finished: %s", tracker.snapshot())
    return [r for r in results if r is not None]


def run_requests_sync(
    requests: Sequence[ChatRequest],
    providers: Mapping[str, TeacherProvider],
    cache: ResponseCache,
    *,
    max_concurrency: Mapping[str, int],
    max_retries: Mapping[str, int] | int = DEFAULT_RETRIES,
    refresh: bool = False,
    progress: Callable[[EngineProgress], None] | None = None,
    backoff_base: float = 0.5,
    backoff_max: float = 30.0,
    close_providers: bool = True,
) -> list[CallResult]:
    """`run_requests` in a fresh event loop (in a helper thread when this thread already runs one).

    The providers' network clients belong to that loop, so they are closed at its end (`close_providers`);
    providers built on `OpenAIProvider` open a new client on their next use.
    """

    async def main() -> list[CallResult]:
        try:
            return await run_requests(
                requests,
                providers,
                cache,
                max_concurrency=max_concurrency,
                max_retries=max_retries,
                refresh=refresh,
                progress=progress,
                backoff_base=backoff_base,
                backoff_max=backoff_max,
            )
        finally:
            if close_providers:
                await asyncio.gather(*(p.aclose() for p in providers.values()), return_exceptions=True)

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(main())
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="fair-teachers") as pool:
        return pool.submit(asyncio.run, main()).result()
