"""GeminiProvider with the real google-genai SDK against the simulator's Gemini wire, through the engine."""

from __future__ import annotations

import asyncio
import re
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from google.genai import types

from fair_core.answers import answers_match, extract_answer
from fair_core.config import SimulatorConfig
from fair_core.prompts.builder import gold_text
from fair_core.records import Message
from fair_core.teachers.base import ChatRequest, ProviderError, ProviderSetupError, build_provider
from fair_core.teachers.cache import ResponseCache
from fair_core.teachers.gemini_provider import GeminiProvider, parse_retry_delay, to_chat_response
from fair_core.teachers.simulator.gemini_wire import wire_log
from fair_core.teachers.simulator.server import SimulatorHandle, start_simulator
from tests.core.teachers.conftest import EXAMPLES
from tests.core.teachers.gemini_support import KEY, PROMPTS, gemini, rationale_requests, run

SCORE = re.compile(r"\[(\d)\]\s*$")


@pytest.fixture
def sim() -> Iterator[SimulatorHandle]:
    cfg = SimulatorConfig(wrong_rate=0.0, unparseable_rate=0.0, latency_ms=10)
    with start_simulator(EXAMPLES, cfg, wrong_rates={"gemini-wrong": 1.0}, required_key=KEY) as handle:
        yield handle


def test_roles_end_to_end_and_second_run_is_free(sim: SimulatorHandle, cache: ResponseCache) -> None:
    right, wrong = gemini("right", "gemini-right", sim.url), gemini("wrong", "gemini-wrong", sim.url)
    providers = {"right": build_provider(right, KEY), "wrong": build_provider(wrong, KEY)}
    assert isinstance(providers["right"], GeminiProvider) and KEY not in repr(providers["right"])
    rationales = rationale_requests(right, EXAMPLES) + rationale_requests(wrong, EXAMPLES)
    first = run(rationales, providers, cache)
    n = len(EXAMPLES)
    for result, example in zip(first, EXAMPLES + EXAMPLES, strict=True):
        response = result.response
        assert response.ok and response.finish_reason == "stop", response
        assert response.prompt_tokens > 0 and response.completion_tokens > 0
        predicted = extract_answer(response.text, example.kind, example.options)
        assert answers_match(predicted, example.answer, example.kind) == (result.request.teacher == "right")
    feedback = [ChatRequest.for_teacher(right, PROMPTS.feedback(e, "The answer is 0.")) for e in EXAMPLES]
    reviews = [
        ChatRequest.for_teacher(right, PROMPTS.review(example, r.response.text))
        for example, r in zip(EXAMPLES + EXAMPLES, first, strict=True)
    ]
    later = run(feedback + reviews, providers, cache)
    for result, example in zip(later[:n], EXAMPLES, strict=True):
        assert f"correct answer is {gold_text(example)}" in result.response.text
    scores = [int(SCORE.search(r.response.text).group(1)) for r in later[n:]]
    assert all(s >= 4 for s in scores[:n]) and all(s <= 2 for s in scores[n:]), scores
    assert sim.stats["by_role"] == {"rationale": 2 * n, "feedback": n, "review": 2 * n}

    again = run(rationales + feedback + reviews, providers, cache)
    assert sim.stats["requests"] == 5 * n  # nothing sent the second time
    assert all(r.cached for r in again)
    assert [r.response for r in again] == [r.response for r in first + later]


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
    request = rationale_requests(gemini("g", "gemini-right"), EXAMPLES[:1])[0]

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
    request = rationale_requests(gemini("g", "gemini-right"), EXAMPLES[:1])[0]
    for _ in range(2):  # each asyncio.run is a new loop: the SDK client is made again
        assert asyncio.run(provider.complete(request)).ok
    asyncio.run(provider.aclose())
