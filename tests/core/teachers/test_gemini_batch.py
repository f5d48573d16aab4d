"""GeminiBatchProvider with the real google-genai SDK against the simulator's Gemini batch wire."""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from fair_core.answers import answers_match, extract_answer
from fair_core.records import Message
from fair_core.teachers.base import ChatRequest, ChatResponse, ProviderError
from fair_core.teachers.batch import BatchJob, BatchProvider, build_batch_provider
from fair_core.teachers.gemini_batch import GeminiBatchProvider
from fair_core.teachers.simulator.protocol import SimCall, SimFault
from fair_core.teachers.simulator.server import SimulatorHandle
from tests.simulators.fixtures import EXAMPLES, KEY, PROMPTS, WRONG_KEY, assert_no_secret, gemini, simulate
from tests.simulators.gemini_batch_wire import batch_jobs
from tests.simulators.gemini_wire import wire_log


class Faults:
    """Batch lines about the penguin hit a 429, about water a safety block; jobs of model 'doomed' fail."""

    def __init__(self) -> None:
        self.wires: Counter[str] = Counter()

    def __call__(self, call: SimCall) -> SimFault | None:
        self.wires[call.wire] += 1
        text = call.messages[-1].content if call.messages else ""
        if call.wire == "gemini_batch_job":
            return (
                SimFault("server_error", f"internal error for {call.api_key}")
                if call.model == "doomed"
                else None
            )
        if "penguin" in text:
            return SimFault("rate_limit", f"Resource exhausted for key {call.api_key}", retry_after=5)
        if "water" in text:
            return SimFault("safety", "blocked")
        return None


@pytest.fixture
def sim() -> Iterator[tuple[SimulatorHandle, Faults]]:
    faults = Faults()
    with simulate(required_key=KEY, faults=faults) as handle:
        batch_jobs(handle.state).step_s = 0.02
        yield handle, faults


def _requests(model: str = "gemini-b", system: str | None = None) -> list[ChatRequest]:
    cfg = gemini("gb", model)
    head = (Message("system", system),) if system else ()
    return [ChatRequest.for_teacher(cfg, head + tuple(PROMPTS.rationale(e))) for e in EXAMPLES]


async def _finish(provider: BatchProvider, job: BatchJob) -> BatchJob:
    seen = [job.state]
    while not job.done:
        await asyncio.sleep(0.01)
        job = await provider.poll(job)
        seen.append(job.state)
    assert seen[0] == "pending" and seen[-1] == job.state
    return job


def test_round_trip_with_a_failed_line_and_a_refused_one(
    sim: tuple[SimulatorHandle, Faults], caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    caplog.set_level(logging.DEBUG)
    handle, faults = sim
    safety = {"HARASSMENT": "BLOCK_ONLY_HIGH"}
    provider = build_batch_provider(gemini("gb", "gemini-b", handle.url, safety_settings=safety), KEY)
    assert isinstance(provider, GeminiBatchProvider) and KEY not in repr(provider)
    requests = _requests(system="You are a careful teacher.")

    async def main() -> tuple[BatchJob, dict[str, ChatResponse]]:
        try:
            job = await provider.submit(requests + requests[:2])  # duplicates are sent once
            assert job.custom_ids == tuple(r.key() for r in requests) and job.provider == "gemini"
            job = await _finish(provider, job)
            return job, await provider.results(job)
        finally:
            await provider.aclose()

    job, replies = asyncio.run(main())
    assert job.state == "completed" and job.error is None and job.meta["status"] == "JOB_STATE_SUCCEEDED"
    assert set(replies) == set(job.custom_ids)
    for request, example in zip(requests, EXAMPLES, strict=True):
        reply = replies[request.key()]
        if "penguin" in example.question:
            assert reply.status == "error" and reply.meta["kind"] == "retryable", reply
            assert "RESOURCE_EXHAUSTED" in reply.error and "[REDACTED]" in reply.error
        elif "water" in example.question:
            assert reply.status == "refused" and "SAFETY" in reply.error
        else:
            assert reply.ok and reply.prompt_tokens > 0 and reply.completion_tokens > 0
            assert answers_match(
                extract_answer(reply.text, example.kind, example.options), example.answer, example.kind
            )
    assert faults.wires == {"gemini_batch_job": 1, "gemini_batch": len(EXAMPLES)}
    assert handle.stats["requests"] == len(EXAMPLES) and batch_jobs(handle.state).created == 1
    line = wire_log(handle.state).received[-1]
    assert line["systemInstruction"]["parts"] == [{"text": "You are a careful teacher."}]
    assert line["safetySettings"] == [
        {"category": "HARM_CATEGORY_HARASSMENT", "threshold": "BLOCK_ONLY_HIGH"}
    ]
    assert line["generationConfig"]["maxOutputTokens"] == 512
    assert_no_secret([KEY], texts=[r.error for r in replies.values()], caplog=caplog)


def test_failed_and_expired_jobs_have_no_results(sim: tuple[SimulatorHandle, Faults]) -> None:
    handle, _ = sim
    provider = GeminiBatchProvider(KEY, handle.url, api_version="v1beta")

    async def main() -> list[tuple[BatchJob, dict[str, ChatResponse]]]:
        out = []
        try:
            for model in ("doomed", "gemini-b"):
                if model == "gemini-b":
                    batch_jobs(handle.state).plan_next("expired")
                job = await _finish(provider, await provider.submit(_requests(model)))
                out.append((job, await provider.results(job)))
            return out
        finally:
            await provider.aclose()

    (failed, none_failed), (expired, none_expired) = asyncio.run(main())
    assert failed.state == "failed" and "JOB_STATE_FAILED" in failed.error and not none_failed
    assert expired.state == "expired" and "JOB_STATE_EXPIRED" in expired.error and not none_expired
    assert handle.stats["requests"] == 0  # no line of either job was answered


def test_cancel_and_key_errors(sim: tuple[SimulatorHandle, Faults]) -> None:
    handle, _ = sim
    batch_jobs(handle.state).step_s = 0.5
    provider = GeminiBatchProvider(KEY, handle.url)
    wrong = GeminiBatchProvider(WRONG_KEY, handle.url)

    async def main() -> tuple[BatchJob, ProviderError]:
        try:
            job = await provider.submit(_requests())
            await provider.cancel(job)
            job = await provider.poll(job)
            with pytest.raises(ProviderError) as caught:
                await wrong.submit(_requests())
            return job, caught.value
        finally:
            await provider.aclose()
            await wrong.aclose()

    job, error = asyncio.run(main())
    assert job.state == "cancelled" and "JOB_STATE_CANCELLED" in job.error
    assert error.kind == "fatal" and error.status_code == 401
    assert WRONG_KEY not in error.message and "[REDACTED]" in error.message
    assert batch_jobs(handle.state).created == 1


def test_submit_checks_what_one_job_can_hold() -> None:
    provider = GeminiBatchProvider(KEY, "http://127.0.0.1:9")
    with pytest.raises(ValueError, match="at least one request"):
        asyncio.run(provider.submit([]))
    with pytest.raises(ValueError, match="one model"):
        asyncio.run(provider.submit(_requests("a")[:1] + _requests("b")[:1]))
    huge = ChatRequest("gb", "gemini", "m", (Message("user", "x" * 20_000_000),))
    with pytest.raises(ProviderError, match="over the 19 MB"):
        asyncio.run(provider.submit([huge]))
