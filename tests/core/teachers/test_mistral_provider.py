"""Mistral-only behaviour of MistralProvider (real `mistralai` SDK) and the simulator's /mistral wire.

The behaviour every provider shares is in test_provider_contract.py.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from fair_core.teachers.base import ProviderError, ProviderSetupError, build_provider
from fair_core.teachers.cache import ResponseCache
from fair_core.teachers.mistral_provider import MistralProvider, server_url, to_chat_response
from fair_core.teachers.simulator.protocol import SimFault
from fair_core.teachers.simulator.server import SimulatorHandle
from tests.simulators.fixtures import (
    EXAMPLES,
    KEY,
    WRONG_KEY,
    Recorder,
    always,
    assert_no_secret,
    base_url,
    mistral,
    provider_error,
    requests_for,
    run,
    served,
    simulate,
)


@pytest.fixture
def sim() -> Iterator[SimulatorHandle]:
    with simulate(latency_ms=20) as handle:
        yield handle


def test_sdk_debug_logs_of_a_bad_key_are_redacted(
    sim: SimulatorHandle,
    cache: ResponseCache,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MISTRAL_DEBUG", "1")  # the SDK then logs every request and response (redacted)
    caplog.set_level(logging.DEBUG)
    bad, good = served("mistral", sim, "bad", "right-model"), served("mistral", sim, "good", "wrong-model")
    providers = {"bad": build_provider(bad, WRONG_KEY), "good": build_provider(good, KEY)}
    assert all(isinstance(p, MistralProvider) for p in providers.values())
    results = run(requests_for(bad) + requests_for(good), providers, cache, max_concurrency={"bad": 1})
    assert [r.response.status for r in results] == ["fatal"] * len(EXAMPLES) + ["ok"] * len(EXAMPLES)
    sdk_lines = [r.getMessage() for r in caplog.records if r.name == "mistralai.client"]
    assert any("Incorrect API key provided: [REDACTED]" in line for line in sdk_lines)
    assert_no_secret(results=results, caplog=caplog, cache=cache)


def test_422_is_invalid_and_errors_name_the_server(tmp_path: Path) -> None:
    fault = SimFault("server_error", "Field required", status=422)
    with simulate(Recorder(always(fault))) as handle, ResponseCache(tmp_path / "c.sqlite") as cache:
        cfg = served("mistral", handle)
        error = provider_error(build_provider(cfg, KEY), requests_for(cfg, examples=EXAMPLES[:1])[0])
        assert error.kind == "invalid" and error.status_code == 422 and handle.url in error.message
        [result] = run(requests_for(cfg, examples=EXAMPLES[:1]), {"t": build_provider(cfg, KEY)}, cache)
        assert result.response.status == "error" and result.attempts == 1
        assert "HTTP 422" in (result.response.error or "")


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
    chat = base_url(sim, "mistral") + "/v1/chat/completions"
    mistral_reply = httpx.post(chat, json=body, headers=headers).json()
    openai_reply = httpx.post(f"{sim.base_url}/chat/completions", json=body, headers=headers).json()
    assert mistral_reply["object"] == openai_reply["object"] == "chat.completion"
    assert "system_fingerprint" in openai_reply and "system_fingerprint" not in mistral_reply
    assert (
        mistral_reply["choices"][0]["message"]["content"] == openai_reply["choices"][0]["message"]["content"]
    )
    missing_key = httpx.post(chat, json=body)
    assert missing_key.status_code == 401 and missing_key.json()["object"] == "error"
    invalid = httpx.post(chat, json={"messages": []}, headers=headers)
    assert invalid.status_code == 422 and invalid.json()["detail"][0]["msg"]
