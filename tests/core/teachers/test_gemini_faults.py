"""Every fault class of the Gemini wire through the real google-genai SDK, GeminiProvider and the engine."""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections import Counter
from pathlib import Path

import pytest

from fair_core.config import SimulatorConfig
from fair_core.teachers.base import ProviderError, build_provider
from fair_core.teachers.cache import ResponseCache
from fair_core.teachers.gemini_provider import GeminiProvider
from fair_core.teachers.simulator.server import SimCall, SimFault, start_simulator
from tests.core.teachers.conftest import EXAMPLES
from tests.core.teachers.gemini_support import (
    KEY,
    WRONG_KEY,
    assert_no_secret,
    gemini,
    rationale_requests,
    run,
)

#: fault -> (kind, HTTP status, retry_after) as GeminiProvider classifies it
FAULTS = {
    "rate_limit": (
        SimFault("rate_limit", "Resource has been exhausted", retry_after=0.25),
        "retryable",
        429,
        0.25,
    ),
    "internal": (
        SimFault("server_error", "An internal error has occurred", status=500),
        "retryable",
        500,
        None,
    ),
    "overloaded": (SimFault("server_error", "The model is overloaded", status=503), "retryable", 503, None),
    "timeout": (SimFault("timeout", "slow", delay_s=0.6), "retryable", None, None),
    "drop": (SimFault("drop", "x"), "retryable", None, None),
    "malformed": (SimFault("malformed", "x"), "retryable", None, None),
    "empty_body": (SimFault("empty_body", "x"), "retryable", None, None),
    "unauthenticated": (SimFault("auth", f"bad key {KEY}", status=401), "fatal", 401, None),
    "permission": (SimFault("auth", "Permission denied", status=403), "fatal", 403, None),
    "key_invalid": (SimFault("auth", f"API key not valid: {KEY}", status=400), "fatal", 400, None),
    "bad_request": (
        SimFault("server_error", "Request contains an invalid argument", status=400),
        "invalid",
        400,
        None,
    ),
}


@pytest.mark.parametrize("name", list(FAULTS))
def test_each_fault_is_classified_and_redacted(name: str) -> None:
    fault, kind, status, retry_after = FAULTS[name]
    with start_simulator(EXAMPLES, SimulatorConfig(), faults=lambda call: fault) as handle:
        provider = GeminiProvider(KEY, handle.url, timeout_s=0.2)
        request = rationale_requests(gemini("g", "gemini-m"), EXAMPLES[:1])[0]

        async def call() -> ProviderError:
            try:
                with pytest.raises(ProviderError) as caught:
                    await provider.complete(request)
                return caught.value
            finally:
                await provider.aclose()

        error = asyncio.run(call())
    assert (error.kind, error.status_code, error.retry_after) == (kind, status, retry_after), error
    assert KEY not in error.message and KEY not in repr(error)


RECOVERED = ["internal", "overloaded", "timeout", "drop", "malformed", "empty_body"]


@pytest.mark.parametrize("name", RECOVERED)
def test_transient_faults_are_retried_then_succeed(
    name: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    fault = FAULTS[name][0]
    seen: Counter[str] = Counter()

    def faults(call: SimCall) -> SimFault | None:
        seen[call.messages[-1].content] += 1
        return fault if seen[call.messages[-1].content] == 1 else None

    with (
        start_simulator(EXAMPLES, SimulatorConfig(wrong_rate=0.0), faults=faults) as handle,
        ResponseCache(tmp_path / "c.sqlite") as cache,
    ):
        cfg = gemini("g", "gemini-m", handle.url, timeout_s=0.2)
        requests = rationale_requests(cfg, EXAMPLES[:2])
        results = run(requests, {"g": build_provider(cfg, KEY)}, cache)
        assert all(r.response.ok and r.attempts == 2 for r in results), results
        assert handle.stats["by_outcome"][fault.kind] == 2 and handle.stats["by_outcome"]["ok"] == 2
        assert_no_secret([KEY], caplog=caplog, cache=cache, results=results, tmp_path=tmp_path)


def test_rate_limit_retry_delay_is_honoured(tmp_path: Path) -> None:
    sent: list[float] = []

    def faults(call: SimCall) -> SimFault | None:
        sent.append(time.monotonic())
        return SimFault("rate_limit", "Quota exceeded", retry_after=0.3) if len(sent) <= 2 else None

    with (
        start_simulator(EXAMPLES, SimulatorConfig(), faults=faults) as handle,
        ResponseCache(tmp_path / "c.sqlite") as cache,
    ):
        cfg = gemini("g", "gemini-m", handle.url)
        [result] = run(rationale_requests(cfg, EXAMPLES[:1]), {"g": build_provider(cfg, KEY)}, cache)
    assert result.response.ok and result.attempts == 3
    gaps = [b - a for a, b in itertools.pairwise(sent)]
    assert all(gap >= 0.29 for gap in gaps), gaps  # RetryInfo said 0.3 s; the backoff alone is ~0.001 s


def test_safety_blocks_and_empty_replies_are_refused_and_not_retried(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    blocks = {
        "gemini-unsafe": SimFault("safety", "blocked"),
        "gemini-prompt": SimFault("safety", "prompt blocked"),
        "gemini-empty": SimFault("empty", "nothing"),
    }
    with (
        start_simulator(EXAMPLES, SimulatorConfig(), faults=lambda call: blocks.get(call.model)) as handle,
        ResponseCache(tmp_path / "c.sqlite") as cache,
    ):
        configs = [gemini(model, model, handle.url) for model in blocks]
        requests = [rationale_requests(cfg, EXAMPLES[:1])[0] for cfg in configs]
        results = run(requests, {cfg.name: build_provider(cfg, KEY) for cfg in configs}, cache)
        assert [r.response.status for r in results] == ["refused"] * 3
        assert [r.attempts for r in results] == [1, 1, 1] and handle.stats["requests"] == 3
        errors = [r.response.error for r in results]
        assert "finish_reason=SAFETY" in errors[0] and "prompt blocked" in errors[1] and "empty" in errors[2]
        assert cache.stats()["by_status"] == {"refused": 3}
        again = run(requests, {cfg.name: build_provider(cfg, KEY) for cfg in configs}, cache)
        assert all(r.cached for r in again) and handle.stats["requests"] == 3
        assert_no_secret([KEY], texts=errors, caplog=caplog, cache=cache, results=results, tmp_path=tmp_path)


def test_auth_failures_stop_their_teacher_only_and_no_key_leaks(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)

    def faults(call: SimCall) -> SimFault | None:
        if call.model == "gemini-denied":
            return SimFault("auth", "Permission denied on resource project fair", status=403)
        if call.model == "gemini-invalid-key":
            return SimFault("auth", f"API key not valid. Key: {call.api_key}", status=400)
        return None

    with (
        start_simulator(EXAMPLES, SimulatorConfig(wrong_rate=0.0), required_key=KEY, faults=faults) as handle,
        ResponseCache(tmp_path / "c.sqlite") as cache,
    ):
        # one model per teacher: requests with the same model and prompt share a key and are sent once
        bad, denied = gemini("bad", "gemini-bad", handle.url), gemini("denied", "gemini-denied", handle.url)
        invalid_key, good = (
            gemini("inv", "gemini-invalid-key", handle.url),
            gemini("good", "gemini-m", handle.url),
        )
        # a category google-genai knows but the Gemini API refuses: 400 INVALID_ARGUMENT, not retried
        jailbreak = gemini("jail", "gemini-jail", handle.url, safety_settings={"JAILBREAK": "OFF"})
        providers = {
            "bad": build_provider(bad, WRONG_KEY),
            "denied": build_provider(denied, KEY),
            "inv": build_provider(invalid_key, KEY),
            "good": build_provider(good, KEY),
            "jail": build_provider(jailbreak, KEY),
        }
        cfgs = (bad, denied, invalid_key, good, jailbreak)
        requests = [r for cfg in cfgs for r in rationale_requests(cfg, EXAMPLES)]
        concurrency = {name: 1 for name in providers}
        results = run(requests, providers, cache, max_concurrency=concurrency)
        by_teacher: dict[str, list] = {}
        for result in results:
            by_teacher.setdefault(result.request.teacher, []).append(result)
        for name, status in (("bad", "401"), ("denied", "403"), ("inv", "400")):
            replies = by_teacher[name]
            assert all(r.response.status == "fatal" for r in replies), name
            message = replies[0].response.error
            assert f"teacher {name!r} (gemini, " in message and status in message, message
            assert sum(r.attempts for r in replies) == 1, name  # the rest were never sent
        assert "[REDACTED]" in by_teacher["bad"][0].response.error  # the wire echoed the key
        assert "[REDACTED]" in by_teacher["inv"][0].response.error
        assert all(r.response.ok for r in by_teacher["good"])
        jail = by_teacher["jail"]
        assert all(r.response.status == "error" and r.attempts == 1 for r in jail)
        assert "request rejected" in jail[0].response.error and "INVALID_ARGUMENT" in jail[0].response.error
        assert handle.stats["by_outcome"]["auth"] == 3
        assert any("stopped after a fatal error" in r.getMessage() for r in caplog.records)
        assert_no_secret(
            (KEY, WRONG_KEY),
            texts=[r.response.error for r in results] + [r.response.text for r in results],
            caplog=caplog,
            cache=cache,
            results=results,
            tmp_path=tmp_path,
        )
