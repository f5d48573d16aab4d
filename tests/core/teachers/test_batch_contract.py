"""The batch contract of every batch provider (OpenAI, Gemini, Mistral): real SDK, batch runner, simulator.

A `mode: batch` teacher resumes its job after a restart, sends failed lines online, caches every reply,
falls back online when a whole job fails or expires, and a wrong key is fatal and redacted.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from pathlib import Path

import pytest

from fair_core.answers import answers_match, extract_answer
from fair_core.config import TeacherConfig
from fair_core.teachers.base import ChatResponse, ProviderError, build_provider
from fair_core.teachers.batch import BatchJob, BatchProvider, build_batch_provider
from fair_core.teachers.batch_runner import BatchRun, run_batch_requests
from fair_core.teachers.cache import ResponseCache
from fair_core.teachers.engine import CallOptions
from fair_core.teachers.sidecar import Sidecar
from fair_core.teachers.simulator.server import SimulatorHandle
from tests.simulators.fixtures import (
    EXAMPLES,
    JOB_WIRE,
    KEY,
    LINE_WIRE,
    ONLINE_WIRE,
    PROVIDERS,
    WRONG_KEY,
    BatchFaults,
    Recorder,
    assert_no_secret,
    batch_simulator,
    jobs_created,
    plan_job,
    requests_for,
    served,
)


@pytest.fixture(params=PROVIDERS)
def provider(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def _cfg(provider: str, handle: SimulatorHandle) -> TeacherConfig:
    return served(provider, handle, "bt", "batch-model", mode="batch", batch_poll_s=0.02, batch_timeout_s=60)


async def _run(cfg: TeacherConfig, cache_path: Path, submitted: asyncio.Event | None = None) -> BatchRun:
    """One run with fresh providers and cache handle, as a restarted process would have."""
    batch, online = build_batch_provider(cfg, KEY), build_provider(cfg, KEY)

    def progress(done: int, total: int, info: str) -> None:
        if submitted is not None and info.startswith("batch ") and "nothing" not in info:
            submitted.set()  # the job is recorded in the sidecar before this is reported

    try:
        with ResponseCache(cache_path) as cache:
            return await run_batch_requests(
                requests_for(cfg),
                batch,
                online,
                cache,
                poll_s=cfg.batch_poll_s,
                timeout_s=cfg.batch_timeout_s,
                progress=progress,
                online_options=CallOptions(backoff_base=0.001, backoff_max=0.01),
            )
    finally:
        await batch.aclose()
        await online.aclose()


async def _killed_after_submit(cfg: TeacherConfig, cache_path: Path) -> None:
    submitted = asyncio.Event()
    task = asyncio.create_task(_run(cfg, cache_path, submitted))
    await submitted.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


def test_restart_resumes_the_job_failed_rows_go_online_results_are_cached(
    provider: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    hook = BatchFaults(provider)
    with batch_simulator(provider, hook) as handle:
        cfg, cache_path = _cfg(provider, handle), tmp_path / "teachers.sqlite"
        asyncio.run(_killed_after_submit(cfg, cache_path))
        [record] = Sidecar(cache_path).open_jobs("bt", provider)
        assert jobs_created(handle, hook) == 1

        run = asyncio.run(_run(cfg, cache_path))  # the restart polls the same job
        assert jobs_created(handle, hook) == 1 and [job.job_id for job in run.jobs] == [record.job_id]
        assert run.online_fallback == 1
        by_example = {e.id: r for e, r in zip(EXAMPLES, run.results, strict=True)}
        assert by_example["sqa-1"].response.ok and by_example["sqa-1"].response.meta.get("mode") != "batch"
        assert by_example["logiqa-1"].response.status == "refused"
        batch_ok = [by_example[i].response for i in ("gsm-1", "svamp-1", "sqa-2", "logiqa-2")]
        assert all(r.ok and r.meta.get("mode") == "batch" for r in batch_ok)
        line, job = LINE_WIRE[provider], JOB_WIRE.get(provider)
        expected = {(line, "other"): 4, (line, "penguin"): 1, (line, "chess"): 1}
        expected[(ONLINE_WIRE[provider], "penguin")] = 1  # the failed row, online; not the refused one
        if job is not None:
            expected[(job, "other")] = 1
        assert hook.calls == expected
        assert Sidecar(cache_path).open_jobs("bt", provider) == []
        [done] = Sidecar(cache_path).jobs("bt")
        assert done.state == "completed" and done.consumed and done.provider == provider
        assert handle.stats["requests"] == len(EXAMPLES) + 1  # every line once, the failed one online

        again = asyncio.run(_run(cfg, cache_path))
        assert all(r.cached for r in again.results) and handle.stats["requests"] == len(EXAMPLES) + 1
        assert jobs_created(handle, hook) == 1
        with ResponseCache(cache_path) as cache:
            stored = cache.get_many(r.key() for r in requests_for(cfg))
            assert len(stored) == len(EXAMPLES) and sum(r.status == "refused" for r in stored.values()) == 1
            assert_no_secret(results=run.results, caplog=caplog, cache=cache)


OUTCOMES = [(p, "failed") for p in PROVIDERS] + [("openai", "expired"), ("gemini", "expired")]


@pytest.mark.parametrize(("provider", "outcome"), OUTCOMES, indirect=["provider"])
def test_a_failed_or_expired_job_falls_back_online(provider: str, outcome: str, tmp_path: Path) -> None:
    hook = BatchFaults(provider)
    with batch_simulator(provider, hook) as handle:
        plan_job(handle, hook, outcome)
        run = asyncio.run(_run(_cfg(provider, handle), tmp_path / "teachers.sqlite"))
    [job] = run.jobs
    assert job.state == outcome and job.error
    assert outcome in job.error.lower() or "worker crashed" in job.error
    assert Counter(r.response.status for r in run.results) == {"ok": len(EXAMPLES) - 1, "refused": 1}
    assert run.online_fallback == len(EXAMPLES) and hook.calls[(ONLINE_WIRE[provider], "other")] == 4
    if provider != "openai":  # OpenAI's expired job answered 2 lines; these jobs answered none
        assert not [k for k in hook.calls if k[0] == LINE_WIRE[provider]]


def test_a_wrong_key_is_fatal_and_redacted(provider: str) -> None:
    hook = BatchFaults(provider)
    with batch_simulator(provider, hook) as handle:
        cfg = _cfg(provider, handle)
        batch = build_batch_provider(cfg, WRONG_KEY)
        assert WRONG_KEY not in repr(batch)

        async def submit() -> ProviderError:
            try:
                with pytest.raises(ProviderError) as caught:
                    await batch.submit(requests_for(cfg))
                return caught.value
            finally:
                await batch.aclose()

        error = asyncio.run(submit())
        assert error.kind == "fatal" and error.status_code == 401 and "[REDACTED]" in error.message
        assert jobs_created(handle, hook) == 0 and handle.stats["by_outcome"].get("ok", 0) == 0
    assert_no_secret(errors=[error])


def test_round_trip_custom_ids_are_cache_keys_and_duplicates_are_sent_once(provider: str) -> None:
    hook = Recorder()
    with batch_simulator(provider, hook, step_s=0.02) as handle:
        cfg = _cfg(provider, handle)
        batch = build_batch_provider(cfg, KEY)
        assert isinstance(batch, BatchProvider) and KEY not in repr(batch)
        requests = requests_for(cfg)
        keys = tuple(r.key() for r in requests)

        async def main() -> tuple[BatchJob, list[BatchJob], dict[str, ChatResponse]]:
            try:
                submitted = await batch.submit(requests + requests[:2])
                seen = [submitted]
                while not seen[-1].done:
                    await asyncio.sleep(0.01)
                    seen.append(await batch.poll(seen[-1]))
                return submitted, seen, dict(await batch.results(seen[-1]))
            finally:
                await batch.aclose()

        submitted, seen, replies = asyncio.run(main())
        assert submitted.custom_ids == keys and submitted.provider == provider and submitted.teacher == "bt"
        assert submitted.state == "pending" and {job.job_id for job in seen} == {submitted.job_id}
        assert seen[-1].state == "completed" and seen[-1].error is None
        assert set(replies) == set(keys)
        for request, example in zip(requests, EXAMPLES, strict=True):
            reply = replies[request.key()]
            assert reply.ok and reply.finish_reason == "stop", reply
            assert reply.prompt_tokens > 0 and reply.completion_tokens > 0
            predicted = extract_answer(reply.text, example.kind, example.options)
            assert answers_match(predicted, example.answer, example.kind)
        assert handle.stats["requests"] == len(EXAMPLES)  # the repeated requests were not sent
        assert handle.stats["by_role"] == {"rationale": len(EXAMPLES)}
        assert handle.stats["by_model"] == {"batch-model": len(EXAMPLES)}
        assert hook.wires()[LINE_WIRE[provider]] == len(EXAMPLES)
