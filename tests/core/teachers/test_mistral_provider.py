"""The real `mistralai` SDK, through MistralProvider and the engine, against the simulator's /mistral wire."""

from __future__ import annotations

import asyncio
import logging
import re
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from fair_core.answers import answers_match, extract_answer
from fair_core.config import SimulatorConfig, TeacherConfig
from fair_core.prompts.builder import PromptSet, gold_text
from fair_core.teachers.base import ChatRequest, ProviderError, ProviderSetupError, build_provider
from fair_core.teachers.cache import ResponseCache
from fair_core.teachers.engine import CallResult, run_requests
from fair_core.teachers.mistral_provider import MistralProvider, server_url, to_chat_response
from fair_core.teachers.simulator.server import SimCall, SimFault, SimulatorHandle, start_simulator
from tests.core.teachers.conftest import EXAMPLES

KEY = "mistral-sim-correct-key-0123456789"
WRONG_KEY = "mistral-sim-WRONG-key-9876543210"
PROMPTS = PromptSet()
SCORE = re.compile(r"\[(\d)\]\s*$")


def mistral(name: str, model: str, base_url: str | None = None, **extra: Any) -> TeacherConfig:
    return TeacherConfig(name=name, provider="mistral", model=model, base_url=base_url, **extra)


@pytest.fixture
def sim() -> Iterator[SimulatorHandle]:
    cfg = SimulatorConfig(wrong_rate=0.0, unparseable_rate=0.0, latency_ms=20)
    with start_simulator(EXAMPLES, cfg, wrong_rates={"wrong-model": 1.0}, required_key=KEY) as handle:
        yield handle


def _run(requests: list[ChatRequest], providers: dict[str, Any], cache: ResponseCache, **kw: Any):
    async def main() -> list[CallResult]:
        try:
            return await run_requests(requests, providers, cache, **{"max_concurrency": {}, **kw})
        finally:
            for provider in providers.values():
                await provider.aclose()

    return asyncio.run(main())


def _requests(cfg: TeacherConfig, build) -> list[ChatRequest]:
    return [ChatRequest.for_teacher(cfg, build(example)) for example in EXAMPLES]


def test_roles_end_to_end_and_second_run_is_free(sim: SimulatorHandle, cache: ResponseCache) -> None:
    right, wrong = (
        mistral("right", "right-model", sim.mistral_url),
        mistral("wrong", "wrong-model", sim.mistral_url),
    )
    providers = {"right": build_provider(right, KEY), "wrong": build_provider(wrong, KEY)}
    assert all(isinstance(p, MistralProvider) for p in providers.values())
    rationales = _requests(right, PROMPTS.rationale) + _requests(wrong, PROMPTS.rationale)
    first = _run(rationales, providers, cache)
    n = len(EXAMPLES)
    for result, example in zip(first, EXAMPLES + EXAMPLES, strict=True):
        response = result.response
        assert response.ok and response.finish_reason == "stop" and response.completion_tokens > 0
        assert response.prompt_tokens > 0
        predicted = extract_answer(response.text, example.kind, example.options)
        assert answers_match(predicted, example.answer, example.kind) == (result.request.teacher == "right")
    feedback = _requests(right, lambda e: PROMPTS.feedback(e, "The answer is 0."))
    reviews = [
        ChatRequest.for_teacher(right, PROMPTS.review(example, r.response.text))
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

    again = _run(rationales + feedback + reviews, providers, cache)
    assert sim.stats["requests"] == 5 * n  # nothing sent
    assert all(r.cached for r in again)
    assert [r.response.text for r in again] == [r.response.text for r in first + later]


def test_samples_reach_the_simulator_as_random_seed(tmp_path: Path) -> None:
    cfg = SimulatorConfig(wrong_rate=0.5, unparseable_rate=0.0)
    with start_simulator(EXAMPLES, cfg) as handle, ResponseCache(tmp_path / "c.sqlite") as cache:
        example = EXAMPLES[0]
        teacher = mistral("t", "m")
        requests = [ChatRequest.for_teacher(teacher, PROMPTS.rationale(example), sample=s) for s in range(12)]
        results = _run(requests, {"t": MistralProvider("any-key-works", handle.mistral_url)}, cache)
        correct = [
            answers_match(extract_answer(r.response.text, "numeric"), "11", "numeric") for r in results
        ]
        assert correct == [not handle.state.teachers.is_wrong("m", example, s) for s in range(12)]
        assert len(set(correct)) == 2


class FirstAttemptFaults:
    """A fault hook: each model's fault on the first attempt of every request, then normal replies."""

    def __init__(self, faults: dict[str, SimFault]) -> None:
        self.faults = faults
        self.seen: Counter[tuple[str, str]] = Counter()
        self.times: dict[str, list[float]] = {}
        self._lock = threading.Lock()

    def __call__(self, call: SimCall) -> SimFault | None:
        with self._lock:
            key = (call.model, call.messages[-1].content)
            self.seen[key] += 1
            self.times.setdefault(call.model, []).append(time.monotonic())
            return self.faults.get(call.model) if self.seen[key] == 1 else None


RETRIED = {
    "rate-limited": SimFault("rate_limit", "Requests rate limit exceeded", retry_after=1),
    "server-500": SimFault("server_error", "Internal server error", status=500),
    "server-503": SimFault("server_error", "Service unavailable", status=503),
    "hanging": SimFault("timeout", "too slow", delay_s=2.0),
    "dropping": SimFault("drop", "x"),
    "malformed": SimFault("malformed", "x"),
    "empty-body": SimFault("empty_body", "x"),
}
NOT_RETRIED = {
    "blocked": (SimFault("safety", "blocked"), "refused"),
    "empty": (SimFault("empty", "empty"), "refused"),
    "bad-request": (SimFault("server_error", "Invalid model", status=400), "error"),
    "unprocessable": (SimFault("server_error", "Field required", status=422), "error"),
    "unauthorized": (SimFault("auth", "Unauthorized", status=401), "fatal"),
}


def test_every_fault_class_through_the_engine(tmp_path: Path) -> None:
    """Retryable faults are retried once and succeed; refused, invalid and fatal ones are sent once."""
    faults = FirstAttemptFaults({**RETRIED, **{m: f for m, (f, _) in NOT_RETRIED.items()}})
    with (
        start_simulator(EXAMPLES, SimulatorConfig(wrong_rate=0.0), faults=faults) as handle,
        ResponseCache(tmp_path / "c.sqlite") as cache,
    ):
        models = [*RETRIED, *NOT_RETRIED]
        # a 1 s timeout for the hanging model only: no other request can time out on a busy machine
        providers = {
            m: MistralProvider(KEY, handle.mistral_url, timeout_s=1.0 if m == "hanging" else 30.0)
            for m in models
        }
        requests = [ChatRequest.for_teacher(mistral(m, m), PROMPTS.rationale(EXAMPLES[0])) for m in models]
        results = {r.request.teacher: r for r in _run(requests, providers, cache, backoff_base=0.001)}
        for model in RETRIED:
            assert results[model].response.ok and results[model].attempts == 2, results[model]
        for model, (_, status) in NOT_RETRIED.items():
            assert results[model].response.status == status and results[model].attempts == 1, results[model]
        assert "HTTP 400" in results["bad-request"].response.error
        assert "HTTP 422" in results["unprocessable"].response.error
        assert "HTTP 401" in results["unauthorized"].response.error
        first, second = faults.times["rate-limited"]
        assert second - first >= 0.95  # Retry-After: 1 was honoured
        assert cache.stats()["by_status"] == {"ok": len(RETRIED), "refused": 2}


@pytest.mark.parametrize(
    ("fault", "kind", "retry_after"),
    [
        (SimFault("rate_limit", "slow down", retry_after=2), "retryable", 2.0),
        (SimFault("rate_limit", "slow down"), "retryable", None),
        (SimFault("server_error", "overloaded", status=503), "retryable", None),
        (SimFault("timeout", "x", delay_s=1.5), "retryable", None),
        (SimFault("drop", "x"), "retryable", None),
        (SimFault("malformed", "x"), "retryable", None),
        (SimFault("auth", "no", status=403), "fatal", None),
        (SimFault("server_error", "bad", status=400), "invalid", None),
    ],
    ids=["429-retry-after", "429", "503", "timeout", "drop", "malformed", "403", "400"],
)
def test_wire_faults_are_classified(fault: SimFault, kind: str, retry_after: float | None) -> None:
    with start_simulator(EXAMPLES, SimulatorConfig(), faults=lambda call: fault) as handle:
        provider = MistralProvider(
            KEY, handle.mistral_url, timeout_s=0.5 if fault.kind == "timeout" else 30.0
        )
        request = ChatRequest.for_teacher(mistral("t", "m"), PROMPTS.rationale(EXAMPLES[0]))

        async def call() -> ProviderError:
            try:
                with pytest.raises(ProviderError) as caught:
                    await provider.complete(request)
                return caught.value
            finally:
                await provider.aclose()

        error = asyncio.run(call())
    assert error.kind == kind and error.retry_after == retry_after, error
    assert handle.url in error.message


def test_bad_key_is_fatal_for_its_teacher_only_and_never_leaks(
    sim: SimulatorHandle,
    cache: ResponseCache,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MISTRAL_DEBUG", "1")  # the SDK then logs every request and response (redacted)
    caplog.set_level(logging.DEBUG)
    bad, good = (
        mistral("bad", "right-model", sim.mistral_url),
        mistral("good", "wrong-model", sim.mistral_url),
    )
    providers = {"bad": build_provider(bad, WRONG_KEY), "good": build_provider(good, KEY)}
    assert WRONG_KEY not in repr(providers["bad"])
    requests = _requests(bad, PROMPTS.rationale) + _requests(good, PROMPTS.rationale)
    results = _run(requests, providers, cache, max_concurrency={"bad": 1, "good": 2})
    bad_results, good_results = results[: len(EXAMPLES)], results[len(EXAMPLES) :]
    assert all(r.response.status == "fatal" for r in bad_results)
    assert len({r.response.error for r in bad_results}) == 1
    message = bad_results[0].response.error
    assert "teacher 'bad' (mistral, right-model) stopped after a fatal error" in message and "401" in message
    assert "[REDACTED]" in message  # the simulator echoed the key; the provider blanked it
    assert sim.stats["by_outcome"]["auth"] == 1
    assert all(r.response.ok for r in good_results)
    sdk_lines = [r.getMessage() for r in caplog.records if r.name == "mistralai.client"]
    assert any("Incorrect API key provided: [REDACTED]" in line for line in sdk_lines)
    cache.close()
    stored = b"".join(p.read_bytes() for p in Path(cache.path).parent.glob("*"))
    rows = "".join(r.response.to_json() for r in results)
    for secret in (WRONG_KEY, KEY):
        assert secret not in message and secret not in rows and secret.encode() not in stored
        for record in caplog.records:
            assert secret not in record.getMessage() and secret not in str(record.exc_text or "")


def test_reply_conversion_keeps_length_and_text_chunks() -> None:
    from mistralai.client import models

    def completion(content: Any, finish: str) -> Any:
        body = {
            "id": "x",
            "object": "chat.completion",
            "model": "m",
            "created": 0,
            "usage": {"prompt_tokens": 3, "completion_tokens": 5, "total_tokens": 8},
            "choices": [
                {"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": finish}
            ],
        }
        return models.ChatCompletionResponse.model_validate(body)

    chunks = [
        {"type": "thinking", "thinking": [{"type": "text", "text": "hmm"}]},
        {"type": "text", "text": "42"},
    ]
    reply = to_chat_response(completion(chunks, "model_length"), 0.1, str)
    assert (reply.status, reply.text, reply.finish_reason) == ("ok", "42", "model_length")
    assert (reply.prompt_tokens, reply.completion_tokens) == (3, 5)
    assert to_chat_response(completion("cut", "length"), 0.1, str).finish_reason == "length"
    assert to_chat_response(completion("   ", "stop"), 0.1, str).status == "refused"
    with pytest.raises(ProviderError, match="finish_reason=error") as caught:
        to_chat_response(completion("partial", "error"), 0.1, str)
    assert caught.value.kind == "retryable"


def test_server_url_and_missing_sdk(monkeypatch: pytest.MonkeyPatch) -> None:
    assert server_url("https://api.mistral.ai/v1/") == "https://api.mistral.ai"
    assert server_url("http://127.0.0.1:8000/mistral") == "http://127.0.0.1:8000/mistral"
    assert server_url(None) is None
    provider = build_provider(mistral("t", "mistral-small-latest", timeout_s=7), KEY)
    assert isinstance(provider, MistralProvider) and provider.timeout_ms == 7000 and KEY not in repr(provider)
    monkeypatch.setitem(sys.modules, "mistralai.client", None)
    with pytest.raises(ProviderSetupError, match=re.escape("pip install 'fair-distill[mistral]'")):
        build_provider(mistral("t", "m"), KEY)


def test_wire_is_mounted_beside_openai(sim: SimulatorHandle) -> None:
    body = {"model": "m", "messages": [{"role": "user", "content": EXAMPLES[0].question}], "random_seed": 1}
    headers = {"Authorization": f"Bearer {KEY}"}
    mistral_reply = httpx.post(f"{sim.mistral_url}/v1/chat/completions", json=body, headers=headers).json()
    openai_reply = httpx.post(f"{sim.base_url}/chat/completions", json=body, headers=headers).json()
    assert mistral_reply["object"] == openai_reply["object"] == "chat.completion"
    assert "system_fingerprint" in openai_reply and "system_fingerprint" not in mistral_reply
    assert (
        mistral_reply["choices"][0]["message"]["content"] == openai_reply["choices"][0]["message"]["content"]
    )
    missing_key = httpx.post(f"{sim.mistral_url}/v1/chat/completions", json=body)
    assert missing_key.status_code == 401 and missing_key.json()["object"] == "error"
    invalid = httpx.post(f"{sim.mistral_url}/v1/chat/completions", json={"messages": []}, headers=headers)
    assert invalid.status_code == 422 and invalid.json()["detail"][0]["msg"]
