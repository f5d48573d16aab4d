"""Every fault class through the real `openai` SDK, OpenAIProvider and the engine, against the simulator.

Each test ends by checking that no API key reached the replies, the cache file, the logs or an exception.
"""

from __future__ import annotations

import asyncio
import logging
import time
import traceback
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, cast

import pytest

from fair_core.config import SimulatorConfig
from fair_core.prompts.builder import PromptSet
from fair_core.records import Message, Role
from fair_core.teachers.base import ChatRequest, ProviderError, build_provider
from fair_core.teachers.cache import ResponseCache
from fair_core.teachers.engine import CallResult, run_requests
from fair_core.teachers.openai_provider import OpenAIProvider
from fair_core.teachers.simulator.server import (
    FaultKind,
    SimCall,
    SimFault,
    SimulatorHandle,
    start_simulator,
)
from tests.core.teachers.conftest import EXAMPLES, teacher

KEY = "sk-fault-test-key-0123456789abcdef"
WRONG_KEY = "sk-fault-WRONG-key-fedcba9876543210"
PROMPTS = PromptSet()
Script = Callable[[SimCall, int], SimFault | None]


class FaultScript:
    """A fault hook: `script(call, attempt)` per model, recording when each call reached the simulator."""

    def __init__(self, script: Script) -> None:
        self.script = script
        self.times: dict[str, list[float]] = defaultdict(list)

    def __call__(self, call: SimCall) -> SimFault | None:
        self.times[call.model].append(time.monotonic())
        return self.script(call, len(self.times[call.model]))


def first(fault: Callable[[SimCall], SimFault], attempts: int = 1) -> Script:
    """The fault for a request's first `attempts` attempts, then normal replies."""
    return lambda call, attempt: fault(call) if attempt <= attempts else None


class Leaks:
    """Checks that no key string is in replies, the cache files, log records or exception text."""

    def __init__(self, caplog: pytest.LogCaptureFixture, cache: ResponseCache) -> None:
        self.caplog, self.cache = caplog, cache

    def check(self, results: Sequence[CallResult] = (), errors: Sequence[BaseException] = ()) -> None:
        texts = [r.response.to_json() + r.request.to_json() for r in results]
        texts += [str(e) + repr(e) + "".join(traceback.format_exception(e)) for e in errors]
        texts += [r.getMessage() + str(r.exc_text or "") for r in self.caplog.records]
        self.cache.close()
        stored = b"".join(p.read_bytes() for p in Path(self.cache.path).parent.glob("*") if p.is_file())
        for secret in (KEY, WRONG_KEY):
            assert not [t for t in texts if secret in t]
            assert secret.encode() not in stored


@pytest.fixture
def leaks(caplog: pytest.LogCaptureFixture, cache: ResponseCache) -> Leaks:
    caplog.set_level(logging.DEBUG)
    return Leaks(caplog, cache)


@pytest.fixture
def simulate() -> Iterator[Callable[[Script], tuple[SimulatorHandle, FaultScript]]]:
    handles: list[SimulatorHandle] = []

    def start(script: Script) -> tuple[SimulatorHandle, FaultScript]:
        hook = FaultScript(script)
        cfg = SimulatorConfig(wrong_rate=0.0, unparseable_rate=0.0)
        handles.append(start_simulator(EXAMPLES, cfg, required_key=KEY, faults=hook))
        return handles[-1], hook

    yield start
    for handle in handles:
        handle.stop()


def _requests(name: str, model: str, n: int = 1) -> list[ChatRequest]:
    return [ChatRequest.for_teacher(teacher(name, model), PROMPTS.rationale(e)) for e in EXAMPLES[:n]]


def _run(
    requests: list[ChatRequest], providers: dict[str, Any], cache: ResponseCache, **kw: Any
) -> list[CallResult]:
    async def main() -> list[CallResult]:
        try:
            options: dict[str, Any] = {"max_concurrency": {}, "backoff_base": 0.001, "backoff_max": 0.01}
            return await run_requests(requests, providers, cache, **{**options, **kw})
        finally:
            for provider in providers.values():
                await provider.aclose()

    return asyncio.run(main())


def test_429_waits_at_least_retry_after(simulate, cache: ResponseCache, leaks: Leaks) -> None:
    sim, hook = simulate(first(lambda c: SimFault("rate_limit", f"slow down, {c.api_key}", retry_after=1)))
    [result] = _run(_requests("t", "m"), {"t": OpenAIProvider(KEY, sim.base_url)}, cache)
    assert result.response.ok and result.attempts == 2
    sent = hook.times["m"]
    assert sent[1] - sent[0] >= 1.0  # the Retry-After header said 1 s; backoff alone is <= 0.01 s
    assert sim.stats["by_outcome"] == {"rate_limit": 1, "ok": 1}
    leaks.check([result])


@pytest.mark.parametrize("status", [500, 503])
def test_server_errors_are_retried_then_succeed(simulate, cache: ResponseCache, leaks: Leaks, status) -> None:
    sim, _ = simulate(first(lambda c: SimFault("server_error", f"overloaded ({c.api_key})", status), 2))
    [result] = _run(_requests("t", "m"), {"t": OpenAIProvider(KEY, sim.base_url)}, cache)
    assert result.response.ok and result.attempts == 3 and len(cache) == 1
    assert sim.stats["by_outcome"] == {"server_error": 2, "ok": 1}
    leaks.check([result])


TRANSPORT = {
    "timeout": SimFault("timeout", "hung", delay_s=1.2),
    "drop": SimFault("drop", "connection dropped"),
    "malformed": SimFault("malformed", "truncated JSON"),
    "empty_body": SimFault("empty_body", "200 with no body"),
}


@pytest.mark.parametrize("kind", list(TRANSPORT))
def test_transport_faults_are_retried(simulate, cache: ResponseCache, leaks: Leaks, kind: str) -> None:
    sim, hook = simulate(first(lambda c: TRANSPORT[kind]))
    # the hung first attempt times out; the retry has 0.6 s to get an answer the simulator gives in ms
    provider = OpenAIProvider(KEY, sim.base_url, timeout_s=0.6 if kind == "timeout" else 30.0)
    [result] = _run(_requests("t", "m"), {"t": provider}, cache)
    assert result.response.ok and result.attempts == 2 and len(hook.times["m"]) == 2
    assert sim.stats["by_outcome"][kind] == 1
    leaks.check([result])


@pytest.mark.parametrize("kind", ["safety", "empty"])
def test_blocked_or_empty_reply_is_refused_cached_and_not_retried(
    simulate, cache: ResponseCache, leaks: Leaks, kind: FaultKind
) -> None:
    sim, hook = simulate(lambda call, attempt: SimFault(kind, "no reply"))
    providers = {"t": OpenAIProvider(KEY, sim.base_url)}
    [result] = _run(_requests("t", "m"), providers, cache)
    assert result.response.status == "refused" and result.attempts == 1 and result.response.text in (None, "")
    assert cache.stats()["by_status"] == {"refused": 1}
    [again] = _run(_requests("t", "m"), providers, cache)
    assert again.cached and again.response.status == "refused" and len(hook.times["m"]) == 1
    leaks.check([result, again])


@pytest.mark.parametrize("how", ["wrong key (401)", "forbidden (403)"])
def test_auth_failure_is_fatal_for_that_teacher_only(
    simulate, cache: ResponseCache, leaks: Leaks, how
) -> None:
    def script(call: SimCall, attempt: int) -> SimFault | None:
        if call.model != "m-bad":
            return None
        return SimFault("auth", f"key {call.api_key} may not use this model", 403)

    sim, _ = simulate(script)
    bad_key = WRONG_KEY if how.startswith("wrong") else KEY
    providers = {
        "bad": build_provider(teacher("bad", "m-bad", sim.base_url), bad_key),
        "good": build_provider(teacher("good", "m-good", sim.base_url), KEY),
    }
    n = len(EXAMPLES)
    requests = _requests("bad", "m-bad", n) + _requests("good", "m-good", n)
    results = _run(requests, providers, cache, max_concurrency={"bad": 1, "good": 2})
    bad, good = results[:n], results[n:]
    assert all(r.response.status == "fatal" for r in bad) and len({r.response.error for r in bad}) == 1
    message = bad[0].response.error or ""
    assert message.startswith("teacher 'bad' (openai, m-bad) stopped after a fatal error")
    assert ("401" if how.startswith("wrong") else "403") in message and "[REDACTED]" in message
    assert sim.stats["by_outcome"]["auth"] == 1  # nothing more was sent once the teacher stopped
    assert all(r.response.ok for r in good) and len(cache) == n
    leaks.check(results)


def test_bad_request_is_not_retried(simulate, cache: ResponseCache, leaks: Leaks) -> None:
    sim, _ = simulate(lambda call, attempt: None)
    bad = ChatRequest("t", "openai", "m", (Message(cast(Role, "tool"), EXAMPLES[0].question),))
    [result] = _run([bad], {"t": OpenAIProvider(KEY, sim.base_url)}, cache)
    assert result.response.status == "error" and result.attempts == 1
    assert "request rejected" in (result.response.error or "") and "HTTP 400" in (result.response.error or "")
    assert sim.stats["by_outcome"] == {"invalid": 1} and len(cache) == 0
    leaks.check([result])


ECHOING = {
    "auth": (SimFault("auth", "", 401), "fatal"),
    "rate_limit": (SimFault("rate_limit", "", retry_after=3), "retryable"),
    "server_error": (SimFault("server_error", "", 500), "retryable"),
    "bad_request": (SimFault("server_error", "", 400), "invalid"),
}


@pytest.mark.parametrize("name", list(ECHOING))
def test_provider_errors_are_classified_and_redacted(
    simulate, cache: ResponseCache, leaks: Leaks, name
) -> None:
    fault, kind = ECHOING[name]
    sim, _ = simulate(lambda call, attempt: replace(fault, message=f"echo {call.api_key}"))
    provider = OpenAIProvider(KEY, sim.base_url)

    async def call() -> ProviderError:
        try:
            with pytest.raises(ProviderError) as caught:
                await provider.complete(_requests("t", "m")[0])
            return caught.value
        finally:
            await provider.aclose()

    error = asyncio.run(call())
    assert error.kind == kind and error.status_code == (fault.status or 429)
    assert "echo [REDACTED]" in error.message and KEY not in repr(provider)
    assert error.retry_after == (3.0 if name == "rate_limit" else None)
    leaks.check(errors=[error])
