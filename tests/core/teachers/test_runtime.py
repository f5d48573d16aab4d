"""Shared limits on a virtual clock (counted per 60 s window), one runtime loop for all threads."""

from __future__ import annotations

import asyncio
import selectors
import threading
from collections.abc import Coroutine, Sequence
from typing import Any

import pytest
from aiolimiter import AsyncLimiter

from fair_core.records import Message
from fair_core.teachers.base import ChatRequest, ChatResponse
from fair_core.teachers.cache import ResponseCache
from fair_core.teachers.engine import CallOptions, run_requests, run_requests_sync
from fair_core.teachers.runtime import RateLimits, TeacherRuntime, get_runtime, rpm_limiter, tpm_burst
from tests.simulators.fixtures import FakeProvider


class _InstantSelector(selectors.DefaultSelector):  # type: ignore[misc,valid-type]
    """Never sleeps: a wait for the next timer moves the loop's virtual clock forward instead."""

    def __init__(self, loop: VirtualClockLoop) -> None:
        super().__init__()
        self.loop = loop

    def select(self, timeout: float | None = None) -> list[Any]:
        events = super().select(0)
        # a real clock moves on at every turn of the loop (aiolimiter relies on it for float leftovers)
        self.loop.now += 1e-6 if events or not timeout else max(timeout, 1e-6)
        return events


class VirtualClockLoop(asyncio.SelectorEventLoop):
    """An event loop whose clock is virtual: hours of rate limiting run in milliseconds, deterministically."""

    def __init__(self) -> None:
        self.now = 0.0
        super().__init__(selector=_InstantSelector(self))

    def time(self) -> float:
        return self.now


def run_virtual(coro: Coroutine[Any, Any, Any]) -> Any:
    loop = VirtualClockLoop()
    try:
        return loop.run_until_complete(coro)
    finally:
        loop.close()


def max_in_window(
    times: Sequence[float], weights: Sequence[float] | None = None, window: float = 60.0
) -> float:
    """The largest total weight of events inside any closed window of `window` seconds."""
    weights = weights or [1.0] * len(times)
    best, start, total = 0.0, 0, 0.0
    for end, t in enumerate(times):
        total += weights[end]
        while t - times[start] > window:
            total -= weights[start]
            start += 1
        best = max(best, total)
    return best


async def _admissions(limits: RateLimits, tokens: Sequence[int]) -> list[float]:
    loop = asyncio.get_running_loop()
    times: list[float] = []

    async def one(n: int) -> None:
        async with limits.semaphore:
            await limits.admit(n)
            times.append(loop.time())

    await asyncio.gather(*(one(n) for n in tokens))
    return times


@pytest.mark.parametrize("limit", [1, 7, 60, 600, 3500])
def test_rpm_never_exceeds_the_limit_in_any_60s_window(limit: int) -> None:
    limits = RateLimits("t", rpm=limit, max_concurrency=64)
    n = max(min(3 * limit, 4000), 5)
    times = run_virtual(_admissions(limits, [10] * n))
    assert len(times) == n
    assert max_in_window(times) <= limit
    achieved = (n - 1) / (times[-1] - times[0]) * 60.0
    assert achieved >= 0.95 * limit, achieved


def test_the_counter_catches_a_default_leaky_bucket() -> None:
    """aiolimiter's default (capacity = limit) bursts the whole minute at once: 2x the limit in a window."""

    async def naive() -> list[float]:
        limiter, loop, times = AsyncLimiter(100, 60), asyncio.get_running_loop(), []
        for _ in range(300):
            await limiter.acquire()
            times.append(loop.time())
        return times

    assert max_in_window(run_virtual(naive())) > 100
    assert rpm_limiter(100).max_rate == 1  # ours has no burst


def test_tpm_and_rpm_together_hold_both_limits() -> None:
    tokens = [300 + (i * 37) % 900 for i in range(600)]  # 300..1199 tokens per request
    limits = RateLimits("t", rpm=120, tpm=40_000, max_concurrency=32, max_tokens=512)
    assert limits.burst == tpm_burst(40_000, 512) == 2048
    times = run_virtual(_admissions(limits, tokens))
    assert max_in_window(times) <= 120
    # sends are admitted in order, so the i-th time carries the i-th request's tokens
    assert max_in_window(times, [float(t) for t in tokens]) <= 40_000
    assert limits.admitted == 600 and limits.tokens_estimated == sum(tokens)


def test_a_request_larger_than_the_burst_is_admitted_in_pieces() -> None:
    limits = RateLimits("t", tpm=10_000, max_tokens=100)
    assert limits.burst == 1224
    times = run_virtual(_admissions(limits, [5000, 5000, 5000]))
    assert len(times) == 3 and times[2] - times[0] > 30  # two of them need most of a minute


def _requests(teacher: str, n: int) -> list[ChatRequest]:
    return [ChatRequest(teacher, "openai", "m", (Message("user", f"q{i}"),)) for i in range(n)]


def test_threads_share_one_loop_and_one_concurrency_bound(cache: ResponseCache) -> None:
    runtime = get_runtime()
    shared = runtime.limits("gpt", max_concurrency=3, scope="test-threads")
    assert runtime.limits("gpt", max_concurrency=3, scope="test-threads") is shared
    provider = FakeProvider(delay=0.01)
    loops: list[object] = []

    def task(offset: int) -> None:
        async def probe() -> None:
            loops.append(asyncio.get_running_loop())

        runtime.run(probe())
        requests = [
            ChatRequest("gpt", "openai", "m", (Message("user", f"t{offset}-{i}"),)) for i in range(12)
        ]
        options = CallOptions(max_concurrency={"gpt": 99}, limits={"gpt": shared})
        run_requests_sync(requests, {"gpt": provider}, cache, options)

    threads = [threading.Thread(target=task, args=(k,)) for k in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(map(id, loops))) == 1 and loops[0] is runtime.loop
    assert sum(provider.calls.values()) == 48
    assert provider.max_in_flight <= 3  # one bound for the four tasks


def test_run_from_the_runtime_loop_is_refused() -> None:
    runtime = TeacherRuntime()
    try:

        async def nested() -> None:
            async def inner() -> None:
                return None

            runtime.run(inner())

        with pytest.raises(RuntimeError, match="own loop"):
            runtime.run(nested())
    finally:
        runtime.close()


def test_engine_timeout_is_retryable_then_an_error(cache: ResponseCache) -> None:
    def slow_first(request: ChatRequest, attempt: int) -> ChatResponse:
        return ChatResponse("late but fine")

    slow = FakeProvider(slow_first, delay=0.2)
    results = asyncio.run(
        run_requests(
            _requests("gpt", 2),
            {"gpt": slow},
            cache,
            CallOptions(max_retries=1, timeouts={"gpt": 0.02}, backoff_base=0.001),
        )
    )
    assert all(r.response.status == "error" for r in results)
    assert all("no reply within the 0.02s timeout" in (r.response.error or "") for r in results)
    assert all(r.attempts == 2 for r in results) and len(cache) == 0
    fast = asyncio.run(
        run_requests(_requests("gpt", 2), {"gpt": FakeProvider()}, cache, CallOptions(timeouts={"gpt": 5.0}))
    )
    assert all(r.response.ok and r.response.meta["mode"] == "online" for r in fast)
