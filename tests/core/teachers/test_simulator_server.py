"""The simulator server itself: the wires it serves, the providers check, the OpenAI wire's own errors."""

from __future__ import annotations

from typing import cast

import httpx
import pytest

from fair_core.config import SimulatorConfig
from fair_core.records import Message, Role
from fair_core.teachers.base import ChatRequest
from fair_core.teachers.cache import ResponseCache
from fair_core.teachers.openai_provider import OpenAIProvider
from fair_core.teachers.simulator import openai_wire, start_simulator
from fair_core.teachers.simulator.server import (
    DEFAULT_WIRES,
    SimulatorSetupError,
    check_providers,
    teacher_protocols,
)
from tests.simulators import gemini_wire, mistral_wire, openai_batch_wire
from tests.simulators.fixtures import EXAMPLES, KEY, assert_no_secret, gemini, run, simulate, teacher
from tests.simulators.wires import ALL_WIRES

GEMINI_PATH = "/v1/models/m:generateContent"


def test_the_product_serves_the_openai_chat_wire_only() -> None:
    assert (openai_wire,) == DEFAULT_WIRES
    body = {"model": "m", "messages": [{"role": "user", "content": EXAMPLES[0].question}]}
    headers = {"Authorization": f"Bearer {KEY}"}
    with start_simulator(EXAMPLES, SimulatorConfig()) as sim:
        assert httpx.post(f"{sim.base_url}/chat/completions", json=body, headers=headers).status_code == 200
        assert httpx.post(f"{sim.url}{GEMINI_PATH}", params={"key": KEY}, json={}).status_code == 404
        assert httpx.post(f"{sim.url}/mistral/v1/chat/completions", json=body).status_code == 404
        assert httpx.get(f"{sim.base_url}/batches/batch_x", headers=headers).status_code == 404
        assert httpx.get(f"{sim.url}/stats").json()["requests"] == 1


def test_a_call_answered_twice_is_counted_as_repeated_whatever_the_key() -> None:
    """`repeated` is what a client paid for twice: the same call answered again (another key too)."""
    ask = {"model": "m", "messages": [{"role": "user", "content": EXAMPLES[0].question}]}
    other = {"model": "m", "messages": [{"role": "user", "content": EXAMPLES[1].question}]}
    with start_simulator(EXAMPLES, SimulatorConfig()) as sim:
        for body, key in ((ask, KEY), (other, KEY), (ask, "another-key"), (ask, None)):
            headers = {"Authorization": f"Bearer {key}"} if key else {}
            httpx.post(f"{sim.base_url}/chat/completions", json=body, headers=headers)
        stats = httpx.get(f"{sim.url}/stats").json()
    assert stats["requests"] == 4 and stats["by_outcome"] == {"ok": 3, "auth": 1}
    assert stats["repeated"] == 1  # the refused call (no key) was not answered, so not paid


def test_wires_are_served_as_given_prefixed_ones_under_their_prefix() -> None:
    gemini_body = {"contents": [{"role": "user", "parts": [{"text": EXAMPLES[0].question}]}]}
    with simulate(wires=(gemini_wire, mistral_wire)) as sim:
        reply = httpx.post(f"{sim.url}{GEMINI_PATH}", params={"key": KEY}, json=gemini_body)
        assert reply.status_code == 200 and reply.json()["candidates"][0]["finishReason"] == "STOP"
        assert httpx.post(f"{sim.base_url}/chat/completions", json={}).status_code == 404  # no OpenAI wire
        mistral_chat = sim.wire_url(mistral_wire.PREFIX) + "/v1/chat/completions"
        assert httpx.post(mistral_chat, json={}).status_code == 401


def test_providers_without_a_wire_are_refused_before_starting() -> None:
    check_providers(["openai"], DEFAULT_WIRES)
    everything = ["openai", "openai:batch", "gemini", "gemini:batch", "mistral", "mistral:batch"]
    check_providers(everything, ALL_WIRES)
    only_openai = "speaks the OpenAI chat-completions protocol only"
    with pytest.raises(SimulatorSetupError, match=only_openai) as caught:
        start_simulator(EXAMPLES, SimulatorConfig(), providers=["openai", "gemini", "mistral"])
    assert "'gemini', 'mistral'" in str(caught.value) and "it serves openai" in str(caught.value)
    with pytest.raises(SimulatorSetupError, match="'openai:batch'"):
        check_providers(["openai:batch"], DEFAULT_WIRES)
    check_providers(["openai:batch"], (openai_wire, openai_batch_wire))


def test_missing_bearer_key_is_401_and_a_reply_has_openai_fields() -> None:
    body = {"model": "m", "messages": [{"role": "user", "content": EXAMPLES[0].question}]}
    with simulate() as sim:
        response = httpx.post(f"{sim.base_url}/chat/completions", json=body)
        assert response.status_code == 401 and "API key" in response.json()["error"]["message"]
        headers = {"Authorization": f"Bearer {KEY}"}
        ok = httpx.post(f"{sim.base_url}/chat/completions", json=body, headers=headers)
    data = ok.json()
    assert ok.status_code == 200 and data["object"] == "chat.completion" and data["model"] == "m"
    assert (
        data["choices"][0]["message"]["role"] == "assistant" and data["choices"][0]["finish_reason"] == "stop"
    )
    usage = data["usage"]
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"] > 0


def test_a_request_the_wire_rejects_is_not_retried(cache: ResponseCache) -> None:
    bad = ChatRequest("t", "openai", "m", (Message(cast(Role, "tool"), EXAMPLES[0].question),))
    with simulate() as sim:
        [result] = run([bad], {"t": OpenAIProvider(KEY, sim.base_url)}, cache)
        assert result.response.status == "error" and result.attempts == 1
        assert "request rejected" in (result.response.error or "")
        assert "HTTP 400" in (result.response.error or "")
        assert sim.stats["by_outcome"] == {"invalid": 1} and len(cache) == 0
    assert_no_secret(results=[result], cache=cache)


def test_teacher_protocols_name_each_provider_and_batch_api() -> None:
    teachers = [teacher("a", "m"), teacher("b", "m", mode="batch"), gemini("c", "m"), gemini("d", "m")]
    assert teacher_protocols(teachers) == ["gemini", "openai", "openai:batch"]
    with pytest.raises(SimulatorSetupError, match="'gemini', 'openai:batch'"):
        check_providers(teacher_protocols(teachers), DEFAULT_WIRES)
    check_providers(teacher_protocols(teachers), ALL_WIRES)
