"""GeminiProvider with the real google-genai SDK against the simulator's Gemini wire, through the engine."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from google.genai import types

from fair_core.records import Message
from fair_core.teachers.base import ChatRequest, ProviderError, ProviderSetupError, build_provider
from fair_core.teachers.cache import ResponseCache
from fair_core.teachers.gemini_provider import GeminiProvider, parse_retry_delay, to_chat_response
from fair_core.teachers.simulator.protocol import SimCall, SimFault
from fair_core.teachers.simulator.server import SimulatorHandle
from tests.simulators.fixtures import (
    EXAMPLES,
    KEY,
    PROMPTS,
    WRONG_KEY,
    Recorder,
    always,
    assert_no_secret,
    gemini,
    provider_error,
    requests_for,
    run,
    simulate,
)
from tests.simulators.gemini_wire import wire_log


@pytest.fixture
def sim() -> Iterator[SimulatorHandle]:
    with simulate(latency_ms=10) as handle:
        yield handle


def test_system_instruction_turns_sampling_and_safety_reach_the_wire(sim: SimulatorHandle) -> None:
    safety = {"HARASSMENT": "block_none", "HARM_CATEGORY_DANGEROUS_CONTENT": "BLOCK_ONLY_HIGH"}
    cfg = gemini("g", "gemini-right", sim.url, top_p=0.9, max_tokens=64, safety_settings=safety)
    messages = (
        Message("system", "You are a careful teacher."),
        Message("user", "Say hello."),
        Message("assistant", "Hello."),
        *PROMPTS.rationale(EXAMPLES[1]),
    )
    request = ChatRequest.for_teacher(cfg, messages, sample=3)
    provider = build_provider(cfg, KEY)

    async def call() -> object:
        try:
            return await provider.complete(request)
        finally:
            await provider.aclose()

    response = asyncio.run(call())
    assert response.ok and "The answer is 7" in response.text
    body = wire_log(sim.state).received[-1]
    assert body["systemInstruction"]["parts"] == [{"text": "You are a careful teacher."}]
    assert [c["role"] for c in body["contents"]] == ["user", "model", "user"]
    assert body["contents"][1]["parts"] == [{"text": "Hello."}]
    assert body["safetySettings"] == [
        {"category": "HARM_CATEGORY_HARASSMENT", "threshold": "BLOCK_NONE"},
        {"category": "HARM_CATEGORY_DANGEROUS_CONTENT", "threshold": "BLOCK_ONLY_HIGH"},
    ]
    config = body["generationConfig"]
    assert config == {"temperature": 0.8, "topP": 0.9, "candidateCount": 1, "maxOutputTokens": 64, "seed": 3}


def test_both_api_versions_and_the_key_query_parameter_are_served(sim: SimulatorHandle) -> None:
    beta = GeminiProvider(KEY, sim.url, api_version="v1beta")
    request = requests_for(gemini("g", "gemini-right"), examples=EXAMPLES[:1])[0]

    async def call() -> object:
        try:
            return await beta.complete(request)
        finally:
            await beta.aclose()

    assert asyncio.run(call()).ok
    body = {"contents": [{"role": "user", "parts": [{"text": EXAMPLES[0].question}]}]}
    for version in ("v1", "v1beta"):
        url = f"{sim.url}/{version}/models/gemini-right:generateContent"
        reply = httpx.post(url, params={"key": KEY}, json=body).json()
        assert reply["candidates"][0]["content"]["role"] == "model"
        assert reply["candidates"][0]["finishReason"] == "STOP"
        assert set(reply["usageMetadata"]) == {"promptTokenCount", "candidatesTokenCount", "totalTokenCount"}
    url = f"{sim.url}/v1/models/gemini-right:generateContent"
    keyless = httpx.post(url, json=body)
    assert keyless.status_code == 403 and keyless.json()["error"]["status"] == "PERMISSION_DENIED"
    bad = httpx.post(url, headers={"x-goog-api-key": KEY}, json={"contents": []})
    assert bad.status_code == 400 and bad.json()["error"]["status"] == "INVALID_ARGUMENT"
    unsafe = {**body, "safetySettings": [{"category": "HARM_CATEGORY_JAILBREAK", "threshold": "OFF"}]}
    rejected = httpx.post(url, headers={"x-goog-api-key": KEY}, json=unsafe)
    assert (
        rejected.status_code == 400 and "safety_settings[0].category" in rejected.json()["error"]["message"]
    )


def test_config_errors_name_the_teacher_and_a_missing_sdk_names_the_extra(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with pytest.raises(
        ProviderSetupError, match=r"teacher 'g': safety_settings: unknown harm category 'VIOLENCE'"
    ):
        build_provider(gemini("g", "m", safety_settings={"VIOLENCE": "BLOCK_NONE"}), KEY)
    with pytest.raises(
        ProviderSetupError, match=r"unknown threshold 'SOMETIMES' for HARM_CATEGORY_HATE_SPEECH"
    ):
        build_provider(gemini("g", "m", safety_settings={"HATE_SPEECH": "SOMETIMES"}), KEY)
    with pytest.raises(ProviderError, match="only system messages"):
        asyncio.run(GeminiProvider(KEY).complete(ChatRequest("g", "gemini", "m", (Message("system", "x"),))))
    monkeypatch.setitem(sys.modules, "google.genai", None)  # as if google-genai were not installed
    with pytest.raises(
        ProviderSetupError, match=r"google-genai package .*pip install 'fair-distill\[gemini\]'"
    ):
        build_provider(gemini("g", "m"), KEY)


def _response(data: dict) -> types.GenerateContentResponse:
    return types.GenerateContentResponse.model_validate(data)


def test_reply_conversion_blocks_lengths_and_thinking_tokens() -> None:
    usage = {"promptTokenCount": 5, "candidatesTokenCount": 3, "thoughtsTokenCount": 4, "totalTokenCount": 12}
    parts = [{"text": "thinking...", "thought": True}, {"text": "The answer is 4."}]
    cut = _response(
        {"candidates": [{"content": {"role": "model", "parts": parts}, "finishReason": "MAX_TOKENS"}]}
        | {"usageMetadata": usage}
    )
    reply = to_chat_response(cut, 0.5, str)
    assert (reply.status, reply.text, reply.finish_reason) == ("ok", "The answer is 4.", "length")
    assert (reply.prompt_tokens, reply.completion_tokens) == (5, 7)  # thinking is billed as output
    blocked = _response({"promptFeedback": {"blockReason": "PROHIBITED_CONTENT"}, "usageMetadata": usage})
    reply = to_chat_response(blocked, 0.1, str)
    assert reply.status == "refused" and "PROHIBITED_CONTENT" in reply.error and reply.prompt_tokens == 5
    for reason in ("SAFETY", "RECITATION", "BLOCKLIST", "SPII"):
        reply = to_chat_response(_response({"candidates": [{"finishReason": reason}]}), 0.1, str)
        assert reply.status == "refused" and reply.text is None and reason in reply.error
    with pytest.raises(ProviderError, match="without candidates") as caught:
        to_chat_response(_response({}), 0.1, str)
    assert caught.value.kind == "retryable"


def test_retry_delay_parsing() -> None:
    info = "type.googleapis.com/google.rpc.RetryInfo"
    assert parse_retry_delay([{"@type": info, "retryDelay": "37s"}]) == 37.0
    assert parse_retry_delay([{"@type": "x.ErrorInfo"}, {"@type": info, "retryDelay": "1.5s"}]) == 1.5
    assert parse_retry_delay([{"@type": info, "retryDelay": "soon"}]) is None
    assert parse_retry_delay([]) is None


def test_provider_survives_a_second_event_loop(sim: SimulatorHandle, tmp_path: Path) -> None:
    provider = build_provider(gemini("g", "gemini-right", sim.url), KEY)
    request = requests_for(gemini("g", "gemini-right"), examples=EXAMPLES[:1])[0]
    for _ in range(2):  # each asyncio.run is a new loop: the SDK client is made again
        assert asyncio.run(provider.complete(request)).ok
    asyncio.run(provider.aclose())


#: Gemini-only classifications: an invalid key is a 400 (API_KEY_INVALID), RetryInfo carries fractions
GEMINI_FAULTS = {
    "key_invalid": (SimFault("auth", f"API key not valid: {KEY}", status=400), "fatal", 400, None),
    "retry_info": (SimFault("rate_limit", "Exhausted", retry_after=0.25), "retryable", 429, 0.25),
}


@pytest.mark.parametrize("name", list(GEMINI_FAULTS))
def test_gemini_only_faults_are_classified_and_redacted(name: str) -> None:
    fault, kind, status, retry_after = GEMINI_FAULTS[name]
    with simulate(Recorder(always(fault)), required_key=None) as handle:
        provider = GeminiProvider(KEY, handle.url, timeout_s=0.2)
        error = provider_error(provider, requests_for(gemini("g", "gemini-m"), examples=EXAMPLES[:1])[0])
    assert (error.kind, error.status_code, error.retry_after) == (kind, status, retry_after), error
    assert_no_secret([KEY], errors=[error])


def test_safety_block_messages_and_a_blocked_prompt(tmp_path: Path) -> None:
    blocks = {
        "gemini-unsafe": SimFault("safety", "blocked"),
        "gemini-prompt": SimFault("safety", "prompt blocked"),  # blocks the prompt: promptFeedback
        "gemini-empty": SimFault("empty", "nothing"),
    }
    with (
        simulate(lambda call: blocks.get(call.model)) as handle,
        ResponseCache(tmp_path / "c.sqlite") as cache,
    ):
        configs = [gemini(model, model, handle.url) for model in blocks]
        requests = [requests_for(cfg, examples=EXAMPLES[:1])[0] for cfg in configs]
        results = run(requests, {cfg.name: build_provider(cfg, KEY) for cfg in configs}, cache)
    assert [r.response.status for r in results] == ["refused"] * 3
    errors = [r.response.error or "" for r in results]
    assert "finish_reason=SAFETY" in errors[0] and "prompt blocked" in errors[1] and "empty" in errors[2]


def test_invalid_key_and_refused_safety_category_stop_or_reject_their_teacher(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    def faults(call: SimCall) -> SimFault | None:
        if call.model == "gemini-invalid-key":
            return SimFault("auth", f"API key not valid. Key: {call.api_key}", status=400)
        return None

    with simulate(faults) as handle, ResponseCache(tmp_path / "c.sqlite") as cache:
        invalid_key = gemini("inv", "gemini-invalid-key", handle.url)
        good = gemini("good", "gemini-m", handle.url)
        # a category google-genai knows but the Gemini API refuses: 400 INVALID_ARGUMENT, not retried
        jailbreak = gemini("jail", "gemini-jail", handle.url, safety_settings={"JAILBREAK": "OFF"})
        cfgs = (invalid_key, good, jailbreak)
        providers = {cfg.name: build_provider(cfg, KEY) for cfg in cfgs}
        requests = [r for cfg in cfgs for r in requests_for(cfg)]
        results = run(requests, providers, cache, max_concurrency={name: 1 for name in providers})
        by_teacher: dict[str, list] = {}
        for result in results:
            by_teacher.setdefault(result.request.teacher, []).append(result)
        inv = by_teacher["inv"]
        assert all(r.response.status == "fatal" for r in inv) and sum(r.attempts for r in inv) == 1
        message = inv[0].response.error or ""
        assert "teacher 'inv' (gemini, " in message and "400" in message and "[REDACTED]" in message
        assert all(r.response.ok for r in by_teacher["good"])
        jail = by_teacher["jail"]
        assert all(r.response.status == "error" and r.attempts == 1 for r in jail)
        assert "request rejected" in jail[0].response.error and "INVALID_ARGUMENT" in jail[0].response.error
        assert_no_secret((KEY, WRONG_KEY), caplog=caplog, cache=cache, results=results, tmp_path=tmp_path)
