"""A Gemini teacher in `mode: batch` end to end: batch_runner + GeminiBatchProvider + the simulator."""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from fair_core.config import SimulatorConfig, TeacherConfig
from fair_core.teachers.base import build_provider
from fair_core.teachers.batch import build_batch_provider
from fair_core.teachers.batch_runner import BatchRun, run_batch_requests
from fair_core.teachers.cache import ResponseCache
from fair_core.teachers.sidecar import Sidecar
from fair_core.teachers.simulator.gemini_batch_wire import batch_jobs
from fair_core.teachers.simulator.server import SimCall, SimFault, SimulatorHandle, start_simulator
from tests.core.teachers.conftest import EXAMPLES
from tests.core.teachers.gemini_support import KEY, assert_no_secret, gemini, rationale_requests


class Faults:
    """Batch lines about the penguin fail (503); the chess club is blocked everywhere; counts per wire."""

    def __init__(self) -> None:
        self.calls: Counter[tuple[str, str]] = Counter()

    def __call__(self, call: SimCall) -> SimFault | None:
        text = call.messages[-1].content if call.messages else ""
        topic = "penguin" if "penguin" in text else "chess" if "chess club" in text else "other"
        self.calls[(call.wire, topic)] += 1
        if topic == "chess":
            return SimFault("safety", "blocked")
        if topic == "penguin" and call.wire == "gemini_batch":
            return SimFault("server_error", f"overloaded, key {call.api_key}", status=503)
        return None


@pytest.fixture
def sim() -> Iterator[tuple[SimulatorHandle, Faults]]:
    faults = Faults()
    cfg = SimulatorConfig(wrong_rate=0.0, unparseable_rate=0.0)
    with start_simulator(EXAMPLES, cfg, required_key=KEY, faults=faults) as handle:
        batch_jobs(handle.state).step_s = 0.05
        yield handle, faults


def _cfg(handle: SimulatorHandle) -> TeacherConfig:
    return gemini("gem", "gemini-b", handle.url, mode="batch", batch_poll_s=0.02, batch_timeout_s=60)


async def _run(cfg: TeacherConfig, cache_path: Path, submitted: asyncio.Event | None = None) -> BatchRun:
    """One run with fresh providers and cache handle, as a restarted process would have."""
    batch, online = build_batch_provider(cfg, KEY), build_provider(cfg, KEY)

    def progress(done: int, total: int, info: str) -> None:
        if submitted is not None and info.startswith("batch ") and "nothing" not in info:
            submitted.set()  # the job is recorded in the sidecar before this is reported

    try:
        with ResponseCache(cache_path) as cache:
            return await run_batch_requests(
                rationale_requests(cfg, EXAMPLES),
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
    jobs = batch_jobs(handle.state)

    asyncio.run(_killed_after_submit(cfg, cache_path))
    [record] = Sidecar(cache_path).open_jobs("gem", "gemini")
    assert jobs.created == 1 and record.job_id in jobs.jobs

    run = asyncio.run(_run(cfg, cache_path))  # the restart polls the same job
    assert jobs.created == 1 and [job.job_id for job in run.jobs] == [record.job_id]
    assert run.online_fallback == 1
    by_example = {e.id: r for e, r in zip(EXAMPLES, run.results, strict=True)}
    assert by_example["sqa-1"].response.ok and by_example["sqa-1"].response.meta.get("mode") != "batch"
    assert by_example["logiqa-1"].response.status == "refused"
    batch_ok = [by_example[i].response for i in ("gsm-1", "svamp-1", "sqa-2", "logiqa-2")]
    assert all(r.ok and r.meta.get("mode") == "batch" for r in batch_ok)
    assert faults.calls == {
        ("gemini_batch_job", "other"): 1,
        ("gemini_batch", "other"): 4,
        ("gemini_batch", "penguin"): 1,
        ("gemini_batch", "chess"): 1,
        ("gemini", "penguin"): 1,  # the failed row, online; the refused one is not asked again
    }
    assert Sidecar(cache_path).open_jobs("gem", "gemini") == []

    requests_before = handle.stats["requests"]
    again = asyncio.run(_run(cfg, cache_path))
    assert all(r.cached for r in again.results) and handle.stats["requests"] == requests_before
    with ResponseCache(cache_path) as cache:
        stored = cache.get_many(r.key() for r in rationale_requests(cfg, EXAMPLES))
        assert len(stored) == len(EXAMPLES) and sum(r.status == "refused" for r in stored.values()) == 1
        assert_no_secret([KEY], texts=[r.response.to_json() for r in run.results], caplog=caplog, cache=cache)


@pytest.mark.parametrize("outcome", ["failed", "expired"])
def test_a_failed_or_expired_job_falls_back_online(
    sim: tuple[SimulatorHandle, Faults], tmp_path: Path, outcome: str
) -> None:
    handle, faults = sim
    batch_jobs(handle.state).plan_next(outcome)  # type: ignore[arg-type]
    run = asyncio.run(_run(_cfg(handle), tmp_path / "teachers.sqlite"))
    [job] = run.jobs
    assert job.state == outcome and job.error and f"JOB_STATE_{outcome.upper()}" in job.error
    assert Counter(r.response.status for r in run.results) == {"ok": len(EXAMPLES) - 1, "refused": 1}
    assert run.online_fallback == len(EXAMPLES) and faults.calls[("gemini", "other")] == 4
    assert not [k for k in faults.calls if k[0] == "gemini_batch"]  # no line of the job was answered
