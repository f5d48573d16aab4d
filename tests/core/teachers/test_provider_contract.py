"""The online contract of every teacher provider (OpenAI, Gemini, Mistral): real SDK, provider, engine, wire.

Each test runs once per provider against its simulated wire: replies and roles, caching, samples,
concurrency, and every fault class (auth, 429 + Retry-After, 5xx, timeout, dropped connection, malformed
body, safety block, empty reply, empty body): how it is classified, retried or not, and that no key leaks.
"""

from __future__ import annotations

import logging
import re
from dataclasses import replace
from pathlib import Path

import httpx
import pytest

from fair_core.answers import answers_match, extract_answer
from fair_core.prompts.builder import gold_text
from fair_core.teachers.base import ChatRequest
from fair_core.teachers.cache import ResponseCache
from fair_core.teachers.simulator.protocol import FaultKind, SimCall, SimFault
from tests.simulators.fixtures import (
    EXAMPLES,
    KEY,
    PROMPTS,
    PROVIDERS,
    WRONG_KEY,
    Recorder,
    always,
    assert_no_secret,
    first,
    online,
    provider_error,
    requests_for,
    run,
    served,
    simulate,
)

SCORE = re.compile(r"\[(\d)\]\s*$")


@pytest.fixture(params=PROVIDERS)
def provider(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def test_roles_end_to_end_and_second_run_is_free(provider: str, cache: ResponseCache) -> None:
    with simulate(wrong_rates={"wrong-model": 1.0}, latency_ms=10) as sim:
        right = served(provider, sim, "right", "right-model")
        wrong = served(provider, sim, "wrong", "wrong-model")
        providers = {"right": online(right), "wrong": online(wrong)}
        assert KEY not in repr(providers["right"])
        rationales = requests_for(right) + requests_for(wrong)
        first_run = run(rationales, providers, cache)
        n = len(EXAMPLES)
        for result, example in zip(first_run, EXAMPLES + EXAMPLES, strict=True):
            response = result.response
            assert response.ok and response.finish_reason == "stop", response
            assert response.prompt_tokens > 0 and response.completion_tokens > 0
            predicted = extract_answer(response.text, example.kind, example.options)
            is_right = result.request.teacher == "right"
            assert answers_match(predicted, example.answer, example.kind) == is_right
        feedback = requests_for(right, lambda e: PROMPTS.feedback(e, "The answer is 0."))
        reviews = [
            ChatRequest.for_teacher(right, PROMPTS.review(example, r.response.text))
            for example, r in zip(EXAMPLES + EXAMPLES, first_run, strict=True)
        ]
        later = run(feedback + reviews, providers, cache)
        for result, example in zip(later[:n], EXAMPLES, strict=True):
            assert f"correct answer is {gold_text(example)}" in result.response.text
        scores = [int(SCORE.search(r.response.text).group(1)) for r in later[n:]]
        assert all(s >= 4 for s in scores[:n]) and all(s <= 2 for s in scores[n:]), scores
        stats = sim.stats
        assert stats["requests"] == 5 * n
        assert stats["by_role"] == {"rationale": 2 * n, "feedback": n, "review": 2 * n}
        assert stats["by_model"] == {"right-model": 4 * n, "wrong-model": n}

        again = run(rationales + feedback + reviews, providers, cache)
        assert sim.stats["requests"] == 5 * n  # nothing sent
        assert all(r.cached for r in again)
        assert [r.response for r in again] == [r.response for r in first_run + later]
        served_stats = httpx.get(f"{sim.url}/stats").json()
        assert served_stats["requests"] == 5 * n and served_stats["max_in_flight"] >= 1


def test_samples_reach_the_simulator_as_seeds(provider: str, cache: ResponseCache) -> None:
    with simulate(required_key=None, wrong_rate=0.5) as sim:
        example = EXAMPLES[0]
        cfg = served(provider, sim)
        requests = [ChatRequest.for_teacher(cfg, PROMPTS.rationale(example), sample=s) for s in range(12)]
        results = run(requests, {"t": online(cfg, "any-key-works")}, cache)
        correct = [
            answers_match(extract_answer(r.response.text, "numeric"), "11", "numeric") for r in results
        ]
        assert correct == [not sim.state.teachers.is_wrong("m", example, s) for s in range(12)]
        assert len(set(correct)) == 2


def test_concurrency_bound_is_respected(provider: str, cache: ResponseCache) -> None:
    with simulate(latency_ms=20) as sim:
        cfg = served(provider, sim)
        requests = [
            ChatRequest.for_teacher(cfg, PROMPTS.rationale(e), sample=s) for e in EXAMPLES for s in range(6)
        ]
        results = run(requests, {"t": online(cfg)}, cache, max_concurrency={"t": 3})
        assert all(r.response.ok for r in results)
        assert 2 <= sim.stats["max_in_flight"] <= 3


#: name -> (fault, kind, status_code, retry_after) as every provider classifies it
CLASSIFIED = {
    "429-retry-after": (SimFault("rate_limit", "slow down", retry_after=2), "retryable", 429, 2.0),
    "429": (SimFault("rate_limit", "slow down"), "retryable", 429, None),
    "500": (SimFault("server_error", "internal error", status=500), "retryable", 500, None),
    "503": (SimFault("server_error", "overloaded", status=503), "retryable", 503, None),
    "timeout": (SimFault("timeout", "too slow", delay_s=1.0), "retryable", None, None),
    "drop": (SimFault("drop", "x"), "retryable", None, None),
    "malformed": (SimFault("malformed", "x"), "retryable", None, None),
    "empty_body": (SimFault("empty_body", "x"), "retryable", None, None),
    "401": (SimFault("auth", "unauthenticated", status=401), "fatal", 401, None),
    "403": (SimFault("auth", "permission denied", status=403), "fatal", 403, None),
    "400": (SimFault("server_error", "invalid argument", status=400), "invalid", 400, None),
}


@pytest.mark.parametrize("name", list(CLASSIFIED))
def test_wire_faults_are_classified_and_redacted(provider: str, name: str) -> None:
    fault, kind, status, retry_after = CLASSIFIED[name]
    echo = replace(fault, message=f"{fault.message} (key {KEY})")
    with simulate(Recorder(always(echo))) as sim:
        cfg = served(provider, sim, timeout_s=0.3 if fault.kind == "timeout" else 30.0)
        error = provider_error(online(cfg), requests_for(cfg, examples=EXAMPLES[:1])[0])
    assert (error.kind, error.status_code, error.retry_after) == (kind, status, retry_after), error
    if status is not None and fault.kind != "timeout":
        assert "[REDACTED]" in error.message, error.message  # the wire echoed the key
    assert_no_secret(errors=[error], texts=[repr(online(cfg))])


TRANSIENT = {
    "500": SimFault("server_error", "internal error", status=500),
    "503": SimFault("server_error", "overloaded", status=503),
    "timeout": SimFault("timeout", "hung", delay_s=1.2),
    "drop": SimFault("drop", "connection dropped"),
    "malformed": SimFault("malformed", "truncated JSON"),
    "empty_body": SimFault("empty_body", "200 with no body"),
}


@pytest.mark.parametrize("name", list(TRANSIENT))
def test_transient_faults_are_retried_then_succeed(
    provider: str, name: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    fault = TRANSIENT[name]
    hook = Recorder(first(lambda call: replace(fault, message=f"{fault.message} {call.api_key}")))
    with simulate(hook) as sim, ResponseCache(tmp_path / "c.sqlite") as cache:
        # the hung first attempt times out; the retry has 0.6 s to get an answer the simulator gives in ms
        cfg = served(provider, sim, timeout_s=0.6 if fault.kind == "timeout" else 30.0)
        results = run(requests_for(cfg, examples=EXAMPLES[:2]), {"t": online(cfg)}, cache)
        assert all(r.response.ok and r.attempts == 2 for r in results), results
        assert sim.stats["by_outcome"] == {fault.kind: 2, "ok": 2} and len(cache) == 2
        assert len(hook.times["m"]) == 4
        assert_no_secret(caplog=caplog, cache=cache, results=results, tmp_path=tmp_path)


def test_429_waits_at_least_retry_after(provider: str, cache: ResponseCache) -> None:
    hook = Recorder(first(lambda c: SimFault("rate_limit", f"slow down, {c.api_key}", retry_after=1)))
    with simulate(hook) as sim:
        cfg = served(provider, sim)
        [result] = run(requests_for(cfg, examples=EXAMPLES[:1]), {"t": online(cfg)}, cache)
        assert result.response.ok and result.attempts == 2
        sent = hook.times["m"]
        assert sent[1] - sent[0] >= 0.95  # Retry-After said 1 s; the backoff alone is <= 0.01 s
        assert sim.stats["by_outcome"] == {"rate_limit": 1, "ok": 1}
    assert_no_secret(results=[result], cache=cache)


def test_429_without_a_wait_is_retried_at_once(provider: str, cache: ResponseCache) -> None:
    hook = Recorder(first(lambda c: SimFault("rate_limit", "slow down", retry_after=0), attempts=2))
    with simulate(hook) as sim:
        cfg = served(provider, sim)
        [result] = run(requests_for(cfg, examples=EXAMPLES[:1]), {"t": online(cfg)}, cache)
        assert result.response.ok and result.attempts == 3
        assert len(hook.times["m"]) == 3 and sim.stats["by_outcome"] == {"rate_limit": 2, "ok": 1}
        assert cache.stats()["by_status"] == {"ok": 1}


@pytest.mark.parametrize("kind", ["safety", "empty"])
def test_blocked_or_empty_reply_is_refused_cached_and_not_retried(
    provider: str, kind: FaultKind, cache: ResponseCache, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    hook = Recorder(always(SimFault(kind, "no reply")))
    with simulate(hook) as sim:
        cfg = served(provider, sim)
        requests = requests_for(cfg, examples=EXAMPLES[:1])
        [result] = run(requests, {"t": online(cfg)}, cache)
        assert result.response.status == "refused" and result.attempts == 1
        assert result.response.text in (None, "") and result.response.error
        assert cache.stats()["by_status"] == {"refused": 1}
        [again] = run(requests, {"t": online(cfg)}, cache)
        assert again.cached and again.response.status == "refused" and len(hook.times["m"]) == 1
        assert sim.stats["requests"] == 1
    assert_no_secret(results=[result, again], caplog=caplog, cache=cache)


@pytest.mark.parametrize("how", ["wrong key (401)", "forbidden (403)"])
def test_auth_failure_is_fatal_for_that_teacher_only(
    provider: str, how: str, cache: ResponseCache, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)

    def script(call: SimCall, attempt: int) -> SimFault | None:
        if call.model != "m-bad":
            return None
        return SimFault("auth", f"key {call.api_key} may not use this model", 403)

    with simulate(Recorder(script)) as sim:
        bad_key = WRONG_KEY if how.startswith("wrong") else KEY
        bad, good = served(provider, sim, "bad", "m-bad"), served(provider, sim, "good", "m-good")
        providers = {"bad": online(bad, bad_key), "good": online(good)}
        assert bad_key not in repr(providers["bad"])
        n = len(EXAMPLES)
        requests = requests_for(bad) + requests_for(good)
        results = run(requests, providers, cache, max_concurrency={"bad": 1, "good": 2})
        bad_results, good_results = results[:n], results[n:]
        assert all(r.response.status == "fatal" for r in bad_results)
        assert len({r.response.error for r in bad_results}) == 1
        message = bad_results[0].response.error or ""
        assert message.startswith(f"teacher 'bad' ({provider}, m-bad) stopped after a fatal error"), message
        assert ("401" if how.startswith("wrong") else "403") in message and "[REDACTED]" in message
        assert sim.stats["by_outcome"]["auth"] == 1  # nothing more was sent once the teacher stopped
        assert all(r.response.ok for r in good_results) and len(cache) == n
    assert any("stopped after a fatal error" in r.getMessage() for r in caplog.records)
    assert_no_secret(results=results, caplog=caplog, cache=cache)


def test_bad_request_is_not_retried(provider: str, cache: ResponseCache) -> None:
    with simulate(Recorder(always(SimFault("server_error", "Invalid argument", status=400)))) as sim:
        cfg = served(provider, sim)
        [result] = run(requests_for(cfg, examples=EXAMPLES[:1]), {"t": online(cfg)}, cache)
        assert result.response.status == "error" and result.attempts == 1
        assert "400" in (result.response.error or "") and len(cache) == 0
        assert sim.stats["requests"] == 1
