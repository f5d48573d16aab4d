"""Mistral batch jobs (real `mistralai` SDK, simulator): round trip, failed lines and jobs, the runner."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from fair_core.config import TeacherConfig
from fair_core.prompts.builder import PromptSet
from fair_core.teachers.base import ChatRequest, ChatResponse, ProviderError
from fair_core.teachers.batch import BatchJob, BatchProvider, build_batch_provider
from fair_core.teachers.mistral_batch import MistralBatchProvider
from fair_core.teachers.simulator.protocol import FaultHook, SimCall, SimFault
from fair_core.teachers.simulator.server import SimulatorHandle
from tests.simulators.fixtures import EXAMPLES, base_url, simulate
from tests.simulators.mistral_jobs import JOB_WIRE, LINE_WIRE

KEY = "mistral-batch-key-0123456789"
WRONG_KEY = "mistral-batch-WRONG-key-987654"
PROMPTS = PromptSet()


def mistral(model: str, base_url: str, **extra: Any) -> TeacherConfig:
    return TeacherConfig(
        name="mixtral", provider="mistral", model=model, base_url=base_url, mode="batch", **extra
    )


def _requests(model: str) -> list[ChatRequest]:
    cfg = TeacherConfig(name="mixtral", provider="mistral", model=model)
    return [ChatRequest.for_teacher(cfg, PROMPTS.rationale(example)) for example in EXAMPLES]


def _simulator(faults: FaultHook | None = None, latency_ms: int = 10) -> SimulatorHandle:
    return simulate(faults, required_key=KEY, latency_ms=latency_ms)


def _provider(handle: SimulatorHandle, key: str = KEY) -> MistralBatchProvider:
    return MistralBatchProvider(key, "mixtral", "m", base_url(handle, "mistral"))


@pytest.fixture
def sim() -> Iterator[SimulatorHandle]:
    with _simulator() as handle:
        yield handle


def _batch(
    provider: BatchProvider,
    requests: list[ChatRequest],
    after_submit: Callable[[BatchJob], Any] | None = None,
) -> tuple[list[BatchJob], dict[str, ChatResponse]]:
    """Submit, poll until final (every state seen), results; `after_submit(job)` may act on the job first."""

    async def main() -> tuple[list[BatchJob], dict[str, ChatResponse]]:
        try:
            jobs = [await provider.submit(requests)]
            if after_submit is not None:
                await after_submit(jobs[0])
            for _ in range(500):
                if jobs[-1].done:
                    break
                await asyncio.sleep(0.02)
                jobs.append(await provider.poll(jobs[-1]))
            assert jobs[-1].done, jobs[-1]
            return jobs, dict(await provider.results(jobs[-1]))
        finally:
            await provider.aclose()

    return asyncio.run(main())


def test_job_meta_and_replies_name_the_files_and_the_job(sim: SimulatorHandle) -> None:
    """Mistral's own fields (the round trip every provider shares is in test_batch_contract.py)."""
    provider = build_batch_provider(mistral("open-mixtral-8x7b", base_url(sim, "mistral")), KEY)
    assert isinstance(provider, MistralBatchProvider)
    jobs, replies = _batch(provider, _requests("open-mixtral-8x7b"))
    first, last = jobs[0], jobs[-1]
    assert first.meta["status"] == "QUEUED" and first.meta["input_file"]
    assert last.meta["succeeded"] == last.meta["total"] == str(len(EXAMPLES))
    assert "error_file" not in last.meta and last.meta["output_file"]
    assert replies and all(reply.meta == {"batch_job": first.job_id} for reply in replies.values())


def test_failed_lines_are_errors_or_missing(caplog: pytest.LogCaptureFixture) -> None:
    """A 500 or 429 line is an error reply, a blocked one refused; lost and unreadable lines are absent."""
    line_faults = {
        EXAMPLES[0].id: SimFault("server_error", "Internal server error", status=500),
        EXAMPLES[1].id: SimFault("rate_limit", "Requests rate limit exceeded", retry_after=3),
        EXAMPLES[2].id: SimFault("safety", "blocked"),
        EXAMPLES[3].id: SimFault("malformed", "x"),
        EXAMPLES[4].id: SimFault("drop", "x"),
    }
    by_question = {e.question: e.id for e in EXAMPLES[:4]} | {EXAMPLES[4].context: EXAMPLES[4].id}
    wires: list[str] = []

    def faults(call: SimCall) -> SimFault | None:
        wires.append(call.wire)
        text = call.messages[-1].content
        hit = [i for q, i in by_question.items() if q and q in text]
        return line_faults.get(hit[0]) if hit and call.wire == LINE_WIRE else None

    with _simulator(faults) as handle:
        requests = _requests("m")
        jobs, replies = _batch(_provider(handle), requests)
    keys = [r.key() for r in requests]
    assert jobs[-1].state == "completed"
    assert jobs[-1].meta["failed"] == "3" and jobs[-1].meta["succeeded"] == "3"
    assert replies[keys[0]].status == "error" and "HTTP 500" in replies[keys[0]].error
    assert replies[keys[0]].meta["status_code"] == 500
    assert replies[keys[1]].status == "error" and "HTTP 429" in replies[keys[1]].error
    assert replies[keys[2]].status == "refused"
    assert keys[3] not in replies and keys[4] not in replies  # unreadable, lost: they go online
    assert replies[keys[5]].ok
    assert wires.count(JOB_WIRE) == 1 and wires.count(LINE_WIRE) == len(EXAMPLES)
    assert any("1 unreadable line" in r.getMessage() for r in caplog.records)


def test_failed_job_has_no_results() -> None:
    def faults(call: SimCall) -> SimFault | None:
        return SimFault("server_error", "worker crashed") if call.wire == JOB_WIRE else None

    with _simulator(faults) as handle:
        jobs, replies = _batch(_provider(handle), _requests("m"))
        assert handle.stats["requests"] == 0
    assert jobs[-1].state == "failed" and jobs[-1].error == "worker crashed" and replies == {}


def test_timed_out_job_keeps_the_lines_it_answered() -> None:
    def faults(call: SimCall) -> SimFault | None:
        return SimFault("timeout", "timeout exceeded", delay_s=0.05) if call.wire == JOB_WIRE else None

    with _simulator(faults) as handle:
        requests = _requests("m")
        jobs, replies = _batch(_provider(handle), requests)
    half = len(requests) // 2
    assert jobs[-1].state == "expired" and jobs[-1].meta["status"] == "TIMEOUT_EXCEEDED"
    assert sorted(replies) == sorted(r.key() for r in requests[:half])
    assert all(reply.ok for reply in replies.values())


def test_cancel_and_results_before_the_end() -> None:
    def faults(call: SimCall) -> SimFault | None:  # the job hangs after half its lines until cancelled
        return SimFault("timeout", "hung", delay_s=60) if call.wire == JOB_WIRE else None

    with _simulator(faults) as handle:
        provider = _provider(handle)

        async def cancel(job: BatchJob) -> None:
            with pytest.raises(ProviderError, match="no results before it ends") as early:
                await provider.results(job)
            assert early.value.kind == "invalid"
            await provider.cancel(job)

        jobs, replies = _batch(provider, _requests("m"), after_submit=cancel)
    assert jobs[-1].state == "cancelled" and jobs[-1].meta["status"] == "CANCELLED"
    assert all(reply.ok for reply in replies.values()) and len(replies) <= len(EXAMPLES) // 2


def test_errors_are_classified_and_redacted(sim: SimulatorHandle, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)

    async def main() -> tuple[ProviderError, ProviderError, ProviderError]:
        bad = MistralBatchProvider(WRONG_KEY, "mixtral", "m", base_url(sim, "mistral"))
        good = MistralBatchProvider(KEY, "mixtral", "m", base_url(sim, "mistral"))
        try:
            with pytest.raises(ProviderError) as denied:
                await bad.submit(_requests("m"))
            ghost = BatchJob("no-such-job", "mistral", "mixtral", ("k",))
            with pytest.raises(ProviderError) as missing:
                await good.poll(ghost)
            with pytest.raises(ProviderError) as other_model:
                await good.submit(_requests("another-model"))
            return denied.value, missing.value, other_model.value
        finally:
            await bad.aclose()
            await good.aclose()

    denied, missing, other_model = asyncio.run(main())
    assert denied.kind == "fatal" and denied.status_code == 401 and "[REDACTED]" in denied.message
    assert missing.kind == "invalid" and missing.status_code == 404
    assert other_model.kind == "invalid" and "'another-model'" in other_model.message
    assert sim.stats["requests"] == 0
    for text in [str(e) for e in (denied, missing)] + [r.getMessage() for r in caplog.records]:
        assert WRONG_KEY not in text and KEY not in text
