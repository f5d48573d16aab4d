"""The call engine with provider doubles: retries, Retry-After, fatal stops, refusals, dedup, progress."""

from __future__ import annotations

import asyncio
import threading

import pytest

from fair_core.records import Message
from fair_core.teachers.base import ChatRequest, ChatResponse, ProviderError
from fair_core.teachers.cache import ResponseCache
from fair_core.teachers.engine import CallOptions, run_requests, run_requests_sync
from fair_core.teachers.tracking import EngineProgress
from tests.simulators.fixtures import FakeProvider


def _requests(teacher: str, n: int, model: str = "m") -> list[ChatRequest]:
    return [ChatRequest(teacher, "openai", model, (Message("user", f"q{i}"),)) for i in range(n)]


def test_retries_honour_retry_after_then_succeed(cache: ResponseCache) -> None:
    def flaky(request: ChatRequest, attempt: int) -> ChatResponse:
        if attempt <= 2:
            raise ProviderError("retryable", "HTTP 429: slow down", status_code=429, retry_after=0.05)
        return ChatResponse("finally")

    provider = FakeProvider(flaky)
    [result] = asyncio.run(
        run_requests(
            _requests("gpt", 1), {"gpt": provider}, cache, CallOptions({"gpt": 2}, backoff_base=0.001)
        )
    )
    assert result.response.text == "finally" and result.attempts == 3 and not result.cached
    gaps = [b - a for a, b in zip(provider.times, provider.times[1:], strict=False)]
    assert all(gap >= 0.045 for gap in gaps), gaps


def test_retry_budget_and_invalid_are_errors_not_cached(cache: ResponseCache) -> None:
    def failing(request: ChatRequest, attempt: int) -> ChatResponse:
        if request.messages[-1].content == "q0":
            raise ProviderError("retryable", "HTTP 503: overloaded", status_code=503)
        raise ProviderError("invalid", "HTTP 400: bad request", status_code=400)

    provider = FakeProvider(failing)
    results = asyncio.run(
        run_requests(
            _requests("gpt", 2),
            {"gpt": provider},
            cache,
            CallOptions(max_retries=3, backoff_base=0.001),
        )
    )
    assert [r.response.status for r in results] == ["error", "error"]
    assert results[0].attempts == 4 and "gave up after 4 attempts" in results[0].response.error
    assert results[1].attempts == 1 and "HTTP 400" in results[1].response.error
    assert len(cache) == 0


def test_fatal_stops_one_teacher_only(cache: ResponseCache) -> None:
    def unauthorized(request: ChatRequest, attempt: int) -> ChatResponse:
        raise ProviderError("fatal", "HTTP 401: invalid key", status_code=401)

    bad, good = FakeProvider(unauthorized, delay=0.01), FakeProvider(delay=0.01)
    requests = _requests("bad", 20, "m-bad") + _requests("good", 20, "m-good")
    results = asyncio.run(
        run_requests(requests, {"bad": bad, "good": good}, cache, CallOptions({"bad": 2, "good": 4}))
    )
    bad_results, good_results = results[:20], results[20:]
    assert all(r.response.status == "fatal" for r in bad_results)
    assert len({r.response.error for r in bad_results}) == 1  # one clear message
    message = bad_results[0].response.error
    assert (
        message.startswith("teacher 'bad' (openai, m-bad) stopped after a fatal error") and "401" in message
    )
    assert sum(bad.calls.values()) <= 2  # only what was already in flight
    assert all(r.response.ok for r in good_results)


def test_refusal_is_cached_and_not_retried(cache: ResponseCache) -> None:
    def refuse(request: ChatRequest, attempt: int) -> ChatResponse:
        raise ProviderError("refused", "blocked by the safety filter")

    provider = FakeProvider(refuse)
    [first] = asyncio.run(run_requests(_requests("gpt", 1), {"gpt": provider}, cache))
    [second] = asyncio.run(run_requests(_requests("gpt", 1), {"gpt": provider}, cache, CallOptions()))
    assert first.response.status == "refused" and first.attempts == 1
    assert second.cached and second.response == first.response
    assert sum(provider.calls.values()) == 1


def test_dedup_cache_refresh_order_and_progress(cache: ResponseCache) -> None:
    provider = FakeProvider(delay=0.005)
    requests = _requests("gpt", 5) + _requests("gpt", 5)  # every request twice
    seen: list[EngineProgress] = []
    first = asyncio.run(
        run_requests(requests, {"gpt": provider}, cache, CallOptions({"gpt": 3}), progress=seen.append)
    )
    assert [r.request for r in first] == requests
    assert [r.response.text for r in first] == [f"reply to q{i % 5}" for i in range(10)]
    assert set(provider.calls.values()) == {1} and len(provider.calls) == 5
    assert seen[-1].done == seen[-1].total == 10 and seen[-1].in_flight == 0 and seen[-1].sent == 5
    assert provider.max_in_flight <= 3
    second = asyncio.run(run_requests(requests, {"gpt": provider}, cache, CallOptions({"gpt": 3})))
    assert all(r.cached for r in second) and [r.response for r in second] == [r.response for r in first]
    assert sum(provider.calls.values()) == 5
    asyncio.run(run_requests(requests[:2], {"gpt": provider}, cache, CallOptions(refresh=True)))
    assert sum(provider.calls.values()) == 7
    asyncio.run(run_requests(requests[2:3], {"gpt": provider}, cache, CallOptions(refresh=True)))
    assert sum(provider.calls.values()) == 8


def test_unknown_teacher_is_refused_up_front(cache: ResponseCache) -> None:
    with pytest.raises(ValueError, match="no provider for teacher"):
        asyncio.run(run_requests(_requests("ghost", 1), {}, cache))


def test_sync_wrapper_in_worker_thread_and_inside_a_loop(cache: ResponseCache) -> None:
    provider = FakeProvider()
    out: list[object] = []
    thread = threading.Thread(
        target=lambda: out.append(
            run_requests_sync(_requests("gpt", 3), {"gpt": provider}, cache, CallOptions())
        )
    )
    thread.start()
    thread.join()
    assert [r.response.ok for r in out[0]] == [True] * 3 and provider.closed == 1

    async def inside_a_loop() -> list[object]:
        return run_requests_sync(_requests("gpt", 4), {"gpt": provider}, cache)

    results = asyncio.run(inside_a_loop())
    assert [r.cached for r in results] == [True, True, True, False]


def test_retry_after_pauses_the_whole_teacher(cache: ResponseCache) -> None:
    def first_is_limited(request: ChatRequest, attempt: int) -> ChatResponse:
        if request.messages[-1].content == "q0" and attempt == 1:
            raise ProviderError("retryable", "HTTP 429", status_code=429, retry_after=0.1)
        return ChatResponse("ok")

    provider = FakeProvider(first_is_limited)
    results = asyncio.run(
        run_requests(_requests("gpt", 3), {"gpt": provider}, cache, CallOptions({"gpt": 1}, backoff_base=0))
    )
    assert all(r.response.ok for r in results) and sum(provider.calls.values()) == 4
    assert all(t - provider.times[0] >= 0.09 for t in provider.times[1:])


def test_a_failing_progress_callback_does_not_lose_replies(cache: ResponseCache) -> None:
    def broken(progress: EngineProgress) -> None:
        raise RuntimeError("display gone")

    results = asyncio.run(run_requests(_requests("gpt", 3), {"gpt": FakeProvider()}, cache, progress=broken))
    assert all(r.response.ok for r in results) and len(cache) == 3
