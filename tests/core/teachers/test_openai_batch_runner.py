"""An OpenAI teacher in `mode: batch` end to end: batch_runner + OpenAIBatchProvider + the simulator."""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Literal

import pytest

from fair_core.config import SimulatorConfig, TeacherConfig
from fair_core.prompts.builder import PromptSet
from fair_core.teachers.base import ChatRequest, build_provider
from fair_core.teachers.batch import build_batch_provider
from fair_core.teachers.batch_runner import BatchRun, run_batch_requests
from fair_core.teachers.cache import ResponseCache
from fair_core.teachers.sidecar import Sidecar
from fair_core.teachers.simulator.openai_batch_wire import batch_store
from fair_core.teachers.simulator.server import SimCall, SimFault, SimulatorHandle, start_simulator
from tests.core.teachers.conftest import EXAMPLES, teacher

KEY = "sk-batch-runner-key-0123456789abcdef"
PROMPTS = PromptSet()


class Faults:
    """Batch lines about the penguin fail (500); the chess club is blocked everywhere; counts per wire."""

    def __init__(self) -> None:
        self.calls: Counter[tuple[str, str]] = Counter()

    def __call__(self, call: SimCall) -> SimFault | None:
        text = call.messages[-1].content
        topic = "penguin" if "penguin" in text else "chess" if "chess club" in text else "other"
        self.calls[(call.wire, topic)] += 1
        if topic == "chess":
            return SimFault("safety", "blocked")
        if topic == "penguin" and call.wire == "openai_batch":
            return SimFault("server_error", f"internal error for {call.api_key}", 500)
        return None


@pytest.fixture
def sim() -> Iterator[tuple[SimulatorHandle, Faults]]:
    faults = Faults()
    cfg = SimulatorConfig(wrong_rate=0.0, unparseable_rate=0.0)
    with start_simulator(EXAMPLES, cfg, required_key=KEY, faults=faults) as handle:
        batch_store(handle.state).job_delay_s = 0.05
        yield handle, faults


def _cfg(sim: SimulatorHandle) -> TeacherConfig:
    return teacher("gpt", "m", sim.base_url, mode="batch", batch_poll_s=0.02, batch_timeout_s=60)


def _requests(cfg: TeacherConfig) -> list[ChatRequest]:
    return [ChatRequest.for_teacher(cfg, PROMPTS.rationale(e)) for e in EXAMPLES]


async def _run(cfg: TeacherConfig, cache_path: Path, submitted: asyncio.Event | None = None) -> BatchRun:
    """One run with fresh providers and cache handle, as a restarted process would have."""
    batch, online = build_batch_provider(cfg, KEY), build_provider(cfg, KEY)

    def progress(done: int, total: int, info: str) -> None:
        if submitted is not None and info.startswith("batch ") and "nothing" not in info:
            submitted.set()  # the job is recorded in the sidecar before this is reported

    try:
        with ResponseCache(cache_path) as cache:
            return await run_batch_requests(
                _requests(cfg),
                batch,
                online,
                cache,
                poll_s=cfg.batch_poll_s,
                timeout_s=cfg.batch_timeout_s,
                progress=progress,
                online_options={"backoff_base": 0.001, "backoff_max": 0.01},
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
    sim: tuple[SimulatorHandle, Faults], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    handle, faults = sim
    cfg, cache_path = _cfg(handle), tmp_path / "teachers.sqlite"
    store = batch_store(handle.state)

    asyncio.run(_killed_after_submit(cfg, cache_path))
    [record] = Sidecar(cache_path).open_jobs("gpt", "openai")
    assert store.calls["batches.create"] == 1 and record.job_id in store.batches

    run = asyncio.run(_run(cfg, cache_path))  # the restart
    assert store.calls["batches.create"] == 1 and len(store.batches) == 1  # polled, not resubmitted
    assert [job.job_id for job in run.jobs] == [record.job_id] and run.online_fallback == 1
    by_example = {e.id: r for e, r in zip(EXAMPLES, run.results, strict=True)}
    assert by_example["sqa-1"].response.ok and by_example["sqa-1"].response.meta.get("mode") == "online"
    assert by_example["logiqa-1"].response.status == "refused"
    batch_ok = [by_example[i].response for i in ("gsm-1", "svamp-1", "sqa-2", "logiqa-2")]
    assert all(r.ok and r.meta.get("mode") == "batch" for r in batch_ok)
    assert faults.calls == {
        ("openai_batch", "other"): 4,
        ("openai_batch", "penguin"): 1,
        ("openai_batch", "chess"): 1,
        ("openai", "penguin"): 1,  # the failed row, online; the refused one is not asked again
    }
    assert Sidecar(cache_path).open_jobs("gpt", "openai") == []

    with ResponseCache(cache_path) as cache:
        stored = cache.get_many(r.key() for r in _requests(cfg))
    assert len(stored) == len(EXAMPLES) and sum(r.status == "refused" for r in stored.values()) == 1
    requests_before = handle.stats["requests"]
    again = asyncio.run(_run(cfg, cache_path))
    assert all(r.cached for r in again.results) and handle.stats["requests"] == requests_before
    assert store.calls["batches.create"] == 1
    stored_bytes = b"".join(p.read_bytes() for p in tmp_path.glob("*"))
    texts = [r.response.to_json() for r in run.results] + [r.getMessage() for r in caplog.records]
    assert KEY.encode() not in stored_bytes and not [t for t in texts if KEY in t]


@pytest.mark.parametrize("outcome", ["failed", "expired"])
def test_a_failed_or_expired_job_falls_back_online(
    sim: tuple[SimulatorHandle, Faults], tmp_path: Path, outcome: Literal["failed", "expired"]
) -> None:
    handle, faults = sim
    batch_store(handle.state).plan_next(outcome, lines_done=2)
    run = asyncio.run(_run(_cfg(handle), tmp_path / "teachers.sqlite"))
    [job] = run.jobs
    assert job.state == outcome and job.error and outcome in job.error
    statuses = Counter(r.response.status for r in run.results)
    assert statuses == {"ok": len(EXAMPLES) - 1, "refused": 1}
    assert run.online_fallback == len(EXAMPLES) and faults.calls[("openai", "other")] == 4
