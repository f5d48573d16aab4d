"""OpenAI batch mode: OpenAIBatchProvider, real `openai` SDK, the simulator's Files and Batches wire."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, TypeVar

import httpx
import pytest

from fair_core.prompts.builder import PromptSet
from fair_core.teachers.base import ChatRequest
from fair_core.teachers.batch import BatchJob, build_batch_provider
from fair_core.teachers.openai_batch import OpenAIBatchProvider
from fair_core.teachers.openai_provider import OpenAIProvider, chat_body
from fair_core.teachers.simulator.protocol import SimCall, SimFault
from fair_core.teachers.simulator.server import SimulatorHandle
from tests.simulators.fixtures import EXAMPLES, simulate, teacher
from tests.simulators.openai_batch_wire import batch_store

KEY = "sk-batch-test-key-0123456789abcdef"
PROMPTS = PromptSet()
T = TypeVar("T")


def _faults(call: SimCall) -> SimFault | None:
    """Batch lines about the penguin fail with a 500 echoing the key; the chess club one is blocked."""
    if call.wire != "openai_batch":
        return None
    text = call.messages[-1].content
    if "penguin" in text:
        return SimFault("server_error", f"internal error for {call.api_key}", 500)
    if "chess club" in text:
        return SimFault("safety", "blocked")
    return None


@pytest.fixture
def sim() -> Iterator[SimulatorHandle]:
    with simulate(required_key=KEY, faults=_faults) as handle:
        batch_store(handle.state).job_delay_s = 0.02
        yield handle


def _provider(sim: SimulatorHandle, key: str = KEY) -> OpenAIBatchProvider:
    provider = build_batch_provider(teacher("gpt", "m", sim.base_url), key)
    assert isinstance(provider, OpenAIBatchProvider)
    return provider


def _run(provider: Any, work: Callable[[], Awaitable[T]]) -> T:
    async def main() -> T:
        try:
            return await work()
        finally:
            await provider.aclose()

    return asyncio.run(main())


async def _wait(provider: OpenAIBatchProvider, job: BatchJob, seen: list[str] | None = None) -> BatchJob:
    for _ in range(1000):
        job = await provider.poll(job)
        if seen is not None:
            seen.append(job.meta["status"])
        if job.done:
            return job
        await asyncio.sleep(0.01)
    raise AssertionError(f"batch {job.job_id} never finished: {job}")


def _requests(examples: tuple = EXAMPLES) -> list[ChatRequest]:
    return [ChatRequest.for_teacher(teacher("gpt", "m"), PROMPTS.rationale(e)) for e in examples]


def test_round_trip_custom_ids_are_cache_keys(sim: SimulatorHandle) -> None:
    ok_examples = tuple(e for e in EXAMPLES if e.id in ("gsm-1", "svamp-1", "sqa-2", "logiqa-2"))
    requests = _requests(ok_examples)
    provider = _provider(sim)
    seen: list[str] = []

    async def work() -> tuple[BatchJob, BatchJob, dict]:
        submitted = await provider.submit(requests + requests[:1])  # a repeated request is sent once
        job = await _wait(provider, submitted, seen)
        return submitted, job, await provider.results(job)

    submitted, job, replies = _run(provider, work)
    keys = [r.key() for r in requests]
    assert submitted.custom_ids == tuple(keys) and submitted.state == "pending" and submitted.teacher == "gpt"
    assert job.state == "completed" and job.error is None and seen[-1] == "completed"
    assert job.meta["total"] == job.meta["completed"] == str(len(keys)) and job.meta["failed"] == "0"
    store = batch_store(sim.state)
    lines = [json.loads(x) for x in store.files[job.meta["input_file_id"]].data.decode().splitlines()]
    assert [line["custom_id"] for line in lines] == keys
    assert [line["body"] for line in lines] == [chat_body(r) for r in requests]  # what the online path sends
    assert store.batches[job.job_id].metadata == {"fair_teacher": "gpt", "requests": str(len(keys))}

    online = OpenAIProvider(KEY, sim.base_url)
    expected = _run(online, lambda: asyncio.gather(*(online.complete(r) for r in requests)))
    assert set(replies) == set(keys)
    for key, reply in zip(keys, expected, strict=True):
        got = replies[key]
        assert got.ok and got.text == reply.text and got.finish_reason == "stop"
        assert (
            got.prompt_tokens == reply.prompt_tokens > 0 and got.completion_tokens == reply.completion_tokens
        )
    assert sim.stats["by_role"] == {"rationale": 2 * len(keys)}  # batch lines count like online calls
    assert store.calls["batches.create"] == 1 and store.calls["files.create"] == 1


def test_failed_and_blocked_lines(sim: SimulatorHandle, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    requests = _requests()
    provider = _provider(sim)

    async def work() -> tuple[BatchJob, dict]:
        job = await _wait(provider, await provider.submit(requests))
        return job, await provider.results(job)

    job, replies = _run(provider, work)
    by_example = {e.id: replies[r.key()] for e, r in zip(EXAMPLES, requests, strict=True)}
    assert job.state == "completed" and job.meta["failed"] == "1" and "error_file_id" in job.meta
    failed = by_example["sqa-1"]
    assert failed.status == "error" and failed.meta == {"kind": "retryable", "status_code": 500}
    assert "HTTP 500" in (failed.error or "") and "[REDACTED]" in (failed.error or "")
    assert (
        by_example["logiqa-1"].status == "refused"
        and by_example["logiqa-1"].finish_reason == "content_filter"
    )
    assert all(by_example[i].ok for i in ("gsm-1", "svamp-1", "sqa-2", "logiqa-2"))
    assert sim.stats["by_outcome"] == {"ok": 4, "server_error": 1, "safety": 1}
    store = batch_store(sim.state)
    [error_line] = [json.loads(x) for x in store.files[job.meta["error_file_id"]].data.decode().splitlines()]
    assert set(error_line) == {"id", "custom_id", "response", "error"} and error_line["error"] is None
    assert error_line["response"]["status_code"] == 500 and error_line["response"]["request_id"]
    assert error_line["response"]["body"]["error"]["type"] == "server_error"
    texts = [r.to_json() for r in replies.values()] + [r.getMessage() for r in caplog.records]
    assert not [t for t in texts if KEY in t]


def test_expired_job_keeps_its_finished_lines(sim: SimulatorHandle) -> None:
    batch_store(sim.state).plan_next("expired", lines_done=2)
    requests = _requests(EXAMPLES[:1] + EXAMPLES[3:])  # no faulted lines
    provider = _provider(sim)

    async def work() -> tuple[BatchJob, dict]:
        job = await _wait(provider, await provider.submit(requests))
        return job, await provider.results(job)

    job, replies = _run(provider, work)
    assert job.state == "expired" and "expired" in (job.error or "") and "2 of 4" in (job.error or "")
    assert [replies[r.key()].status for r in requests] == ["ok", "ok", "error", "error"]
    assert "batch_expired" in (replies[requests[-1].key()].error or "")
    assert sim.stats["requests"] == 2


def test_failed_job_has_a_reason_and_no_results(sim: SimulatorHandle) -> None:
    batch_store(sim.state).plan_next("failed")
    provider = _provider(sim)

    async def work() -> tuple[BatchJob, dict]:
        job = await _wait(provider, await provider.submit(_requests()))
        return job, await provider.results(job)

    job, replies = _run(provider, work)
    assert job.state == "failed" and "simulated_failure" in (job.error or "") and replies == {}
    assert sim.stats["requests"] == 0


def test_invalid_input_file_fails_validation(sim: SimulatorHandle) -> None:
    """The wire checks lines as OpenAI does: here a repeated custom_id and a second model."""
    body = chat_body(_requests()[0])
    lines = [
        {"custom_id": "a", "method": "POST", "url": "/v1/chat/completions", "body": body},
        {"custom_id": "a", "method": "POST", "url": "/v1/chat/completions", "body": body},
        {"custom_id": "b", "method": "POST", "url": "/v1/chat/completions", "body": {**body, "model": "x"}},
    ]
    provider = _provider(sim)

    async def work() -> Any:
        client = provider.online.client()
        data = "\n".join(json.dumps(line) for line in lines).encode()
        uploaded = await client.files.create(file=("in.jsonl", data), purpose="batch")
        batch = await client.batches.create(
            input_file_id=uploaded.id, endpoint="/v1/chat/completions", completion_window="24h"
        )
        job = BatchJob(batch.id, "openai", "gpt", ("a", "b"))
        return await _wait(provider, job)

    job = _run(provider, work)
    assert job.state == "failed"
    assert "line 2: duplicate_custom_id" in (job.error or "") and "mismatched_model" in (job.error or "")


def test_cancel(sim: SimulatorHandle) -> None:
    batch_store(sim.state).job_delay_s = 0.5
    provider = _provider(sim)

    async def work() -> tuple[BatchJob, dict]:
        job = await provider.submit(_requests())
        await provider.cancel(job)
        job = await _wait(provider, job)
        await provider.cancel(job)  # already finished: nothing to do
        return job, await provider.results(job)

    job, replies = _run(provider, work)
    assert job.state == "cancelled" and replies == {} and sim.stats["requests"] == 0


def test_submit_checks_its_input(sim: SimulatorHandle) -> None:
    provider = _provider(sim)
    mixed = [
        *_requests()[:1],
        ChatRequest.for_teacher(teacher("gpt", "other"), PROMPTS.rationale(EXAMPLES[1])),
    ]
    with pytest.raises(ValueError, match="one batch holds one model"):
        _run(provider, lambda: provider.submit(mixed))
    with pytest.raises(ValueError, match="at least one request"):
        _run(provider, lambda: provider.submit([]))
    assert not batch_store(sim.state).calls


def test_wire_answers_unknown_ids_and_bad_uploads(sim: SimulatorHandle) -> None:
    headers = {"Authorization": f"Bearer {KEY}"}
    missing = httpx.get(f"{sim.base_url}/batches/batch_nope", headers=headers)
    assert missing.status_code == 404 and "batch_nope" in missing.json()["error"]["message"]
    assert httpx.get(f"{sim.base_url}/files/file-nope/content", headers=headers).status_code == 404
    not_multipart = httpx.post(f"{sim.base_url}/files", headers=headers, json={"purpose": "batch"})
    assert not_multipart.status_code == 400
    bad_batch = httpx.post(
        f"{sim.base_url}/batches",
        headers=headers,
        json={"input_file_id": "file-nope", "endpoint": "/v1/chat/completions", "completion_window": "24h"},
    )
    assert bad_batch.status_code == 400 and "input_file_id" in bad_batch.json()["error"]["message"]
    assert httpx.get(f"{sim.url}/stats/openai_batch").json()["calls"]["batches.retrieve"] == 1
