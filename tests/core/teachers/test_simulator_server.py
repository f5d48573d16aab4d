"""The real `openai` SDK, through OpenAIProvider and the engine, against the simulator on 127.0.0.1."""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from fair_core.answers import answers_match, extract_answer
from fair_core.config import SimulatorConfig
from fair_core.prompts.builder import PromptSet, gold_text
from fair_core.teachers.base import ChatRequest, ProviderError, build_provider
from fair_core.teachers.cache import ResponseCache
from fair_core.teachers.engine import run_requests
from fair_core.teachers.openai_provider import OpenAIProvider
from fair_core.teachers.simulator.server import SimCall, SimFault, SimulatorHandle, start_simulator
from tests.core.teachers.conftest import EXAMPLES, teacher

KEY = "sk-sim-correct-key-0123456789"
WRONG_KEY = "sk-sim-WRONG-key-9876543210"
PROMPTS = PromptSet()
SCORE = re.compile(r"\[(\d)\]\s*$")


@pytest.fixture
def sim() -> Iterator[SimulatorHandle]:
    cfg = SimulatorConfig(wrong_rate=0.0, unparseable_rate=0.0, latency_ms=20)
    with start_simulator(EXAMPLES, cfg, wrong_rates={"wrong-model": 1.0}, required_key=KEY) as handle:
        yield handle


def _run(
    requests: list[ChatRequest], providers: dict[str, OpenAIProvider], cache: ResponseCache, **kw: object
):
    async def main() -> list:
        try:
            return await run_requests(requests, providers, cache, **{"max_concurrency": {}, **kw})
        finally:
            for provider in providers.values():
                await provider.aclose()

    return asyncio.run(main())


def _requests(name: str, model: str, build) -> list[ChatRequest]:
    cfg = teacher(name, model)
    return [ChatRequest.for_teacher(cfg, build(example)) for example in EXAMPLES]


def test_roles_end_to_end_and_second_run_is_free(sim: SimulatorHandle, cache: ResponseCache) -> None:
    providers = {"right": OpenAIProvider(KEY, sim.base_url), "wrong": OpenAIProvider(KEY, sim.base_url)}
    rationales = _requests("right", "right-model", PROMPTS.rationale) + _requests(
        "wrong", "wrong-model", PROMPTS.rationale
    )
    first = _run(rationales, providers, cache)
    n = len(EXAMPLES)
    for result, example in zip(first, EXAMPLES + EXAMPLES, strict=True):
        response = result.response
        assert response.ok and response.finish_reason == "stop" and response.completion_tokens > 0
        predicted = extract_answer(response.text, example.kind, example.options)
        assert answers_match(predicted, example.answer, example.kind) == (result.request.teacher == "right")
    feedback = _requests("right", "right-model", lambda e: PROMPTS.feedback(e, "The answer is 0."))
    reviews = [
        ChatRequest.for_teacher(teacher("right", "right-model"), PROMPTS.review(example, r.response.text))
        for example, r in zip(EXAMPLES + EXAMPLES, first, strict=True)
    ]
    later = _run(feedback + reviews, providers, cache)
    for result, example in zip(later[:n], EXAMPLES, strict=True):
        assert f"correct answer is {gold_text(example)}" in result.response.text
    scores = [int(SCORE.search(r.response.text).group(1)) for r in later[n:]]
    assert all(s >= 4 for s in scores[:n]) and all(s <= 2 for s in scores[n:]), scores
    stats = sim.stats
    assert stats["requests"] == 5 * n
    assert stats["by_role"] == {"rationale": 2 * n, "feedback": n, "review": 2 * n}
    assert stats["by_model"] == {"right-model": 4 * n, "wrong-model": n}

    again = _run(rationales + feedback + reviews, providers, cache)
    assert sim.stats["requests"] == 5 * n  # nothing sent
    assert all(r.cached for r in again)
    assert [r.response for r in again] == [r.response for r in first + later]
    served = httpx.get(f"{sim.url}/stats").json()
    assert served["requests"] == 5 * n and served["max_in_flight"] >= 1


def test_samples_reach_the_simulator(tmp_path: Path) -> None:
    cfg = SimulatorConfig(wrong_rate=0.5, unparseable_rate=0.0)
    with start_simulator(EXAMPLES, cfg) as handle, ResponseCache(tmp_path / "c.sqlite") as cache:
        example = EXAMPLES[0]
        requests = [
            ChatRequest.for_teacher(teacher("t", "m"), PROMPTS.rationale(example), sample=s)
            for s in range(12)
        ]
        results = _run(requests, {"t": OpenAIProvider("any-key-works", handle.base_url)}, cache)
        correct = [
            answers_match(extract_answer(r.response.text, "numeric"), "11", "numeric") for r in results
        ]
        assert correct == [not handle.state.teachers.is_wrong("m", example, s) for s in range(12)]
        assert len(set(correct)) == 2


def test_concurrency_bound_is_respected(sim: SimulatorHandle, cache: ResponseCache) -> None:
    requests = [
        ChatRequest.for_teacher(teacher("t", "right-model"), PROMPTS.rationale(e), sample=s)
        for e in EXAMPLES
        for s in range(6)
    ]
    results = _run(requests, {"t": OpenAIProvider(KEY, sim.base_url)}, cache, max_concurrency={"t": 3})
    assert all(r.response.ok for r in results)
    assert 2 <= sim.stats["max_in_flight"] <= 3


def test_bad_key_is_fatal_for_its_teacher_only_and_never_leaks(
    sim: SimulatorHandle, cache: ResponseCache, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    providers = {
        "bad": build_provider(teacher("bad", "right-model", sim.base_url), WRONG_KEY),
        "good": build_provider(teacher("good", "wrong-model", sim.base_url), KEY),
    }
    requests = _requests("bad", "right-model", PROMPTS.rationale) + _requests(
        "good", "wrong-model", PROMPTS.rationale
    )
    results = _run(requests, providers, cache, max_concurrency={"bad": 1, "good": 2})
    bad, good = results[: len(EXAMPLES)], results[len(EXAMPLES) :]
    assert all(r.response.status == "fatal" for r in bad)
    assert len({r.response.error for r in bad}) == 1
    message = bad[0].response.error
    assert "teacher 'bad' (openai, right-model) stopped after a fatal error" in message and "401" in message
    assert "[REDACTED]" in message  # the simulator echoed the key; the provider blanked it
    assert sim.stats["by_outcome"]["auth"] == 1
    assert all(r.response.ok for r in good)
    cache.close()
    for secret in (WRONG_KEY, KEY):
        assert secret not in message
        assert secret.encode() not in b"".join(p.read_bytes() for p in Path(cache.path).parent.glob("*"))
        for record in caplog.records:
            assert secret not in record.getMessage() and secret not in str(record.exc_text or "")
    assert any("stopped after a fatal error" in r.getMessage() for r in caplog.records)


FAULTS = [
    (SimFault("rate_limit", "Rate limit reached", retry_after=2), "retryable", 2.0),
    (SimFault("server_error", "The server had an error", status=503), "retryable", None),
    (SimFault("malformed", "x"), "retryable", None),
    (SimFault("drop", "x"), "retryable", None),
    (SimFault("timeout", "x", delay_s=0.6), "retryable", None),
]


@pytest.mark.parametrize(("fault", "kind", "retry_after"), FAULTS, ids=[f[0].kind for f in FAULTS])
def test_wire_faults_are_classified(fault: SimFault, kind: str, retry_after: float | None) -> None:
    with start_simulator(EXAMPLES, SimulatorConfig(), faults=lambda call: fault) as handle:
        provider = OpenAIProvider("k" * 12, handle.base_url, timeout_s=0.3)
        request = ChatRequest.for_teacher(teacher("t", "m"), PROMPTS.rationale(EXAMPLES[0]))

        async def call() -> ProviderError:
            try:
                with pytest.raises(ProviderError) as caught:
                    await provider.complete(request)
                return caught.value
            finally:
                await provider.aclose()

        error = asyncio.run(call())
    assert error.kind == kind and error.retry_after == retry_after, error


def test_safety_block_is_refused_and_retry_after_is_honoured(tmp_path: Path) -> None:
    seen: dict[str, int] = {}

    def faults(call: SimCall) -> SimFault | None:
        seen[call.model] = seen.get(call.model, 0) + 1
        if call.model == "blocked":
            return SimFault("safety", "blocked")
        return SimFault("rate_limit", "slow down", retry_after=0) if seen[call.model] <= 2 else None

    with (
        start_simulator(EXAMPLES, SimulatorConfig(), faults=faults) as handle,
        ResponseCache(tmp_path / "c.sqlite") as cache,
    ):
        providers = {name: OpenAIProvider("key-123456", handle.base_url) for name in ("blocked", "limited")}
        requests = [
            ChatRequest.for_teacher(teacher(name, name), PROMPTS.rationale(EXAMPLES[0])) for name in providers
        ]
        blocked, limited = _run(requests, providers, cache, backoff_base=0.001)
        assert blocked.response.status == "refused" and blocked.attempts == 1
        assert limited.response.ok and limited.attempts == 3
        assert cache.stats()["by_status"] == {"refused": 1, "ok": 1}


def test_missing_bearer_key_is_401(sim: SimulatorHandle) -> None:
    body = {"model": "m", "messages": [{"role": "user", "content": EXAMPLES[0].question}]}
    response = httpx.post(f"{sim.base_url}/chat/completions", json=body)
    assert response.status_code == 401 and "API key" in response.json()["error"]["message"]
    ok = httpx.post(f"{sim.base_url}/chat/completions", json=body, headers={"Authorization": f"Bearer {KEY}"})
    data = ok.json()
    assert ok.status_code == 200 and data["object"] == "chat.completion" and data["model"] == "m"
    assert (
        data["choices"][0]["message"]["role"] == "assistant" and data["choices"][0]["finish_reason"] == "stop"
    )
    usage = data["usage"]
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"] > 0
