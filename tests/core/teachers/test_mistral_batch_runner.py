"""A Mistral teacher in batch mode through the batch runner: resume after a restart, online fallback."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from pathlib import Path

from fair_core.config import SimulatorConfig, TeacherConfig
from fair_core.prompts.builder import PromptSet
from fair_core.teachers.base import ChatRequest, build_provider
from fair_core.teachers.batch import build_batch_provider
from fair_core.teachers.batch_runner import BatchRun, run_batch_requests
from fair_core.teachers.cache import ResponseCache
from fair_core.teachers.sidecar import Sidecar
from fair_core.teachers.simulator.mistral_jobs import JOB_WIRE, LINE_WIRE
from fair_core.teachers.simulator.server import FaultHook, SimCall, SimFault, start_simulator
from tests.core.teachers.conftest import EXAMPLES

KEY = "mistral-runner-key-0123456789"
PROMPTS = PromptSet()


def _teacher(base_url: str) -> TeacherConfig:
    return TeacherConfig(
        name="mixtral", provider="mistral", model="open-mixtral-8x7b", base_url=base_url, mode="batch"
    )


async def _run(
    cfg: TeacherConfig, cache: ResponseCache, stop_once_submitted: bool = False
) -> BatchRun | None:
    """The runner as tasks/committee.py runs it; `stop_once_submitted` kills it once its job is recorded."""
    batch, online = build_batch_provider(cfg, KEY), build_provider(cfg, KEY)
    requests = [ChatRequest.for_teacher(cfg, PROMPTS.rationale(example)) for example in EXAMPLES]
    try:
        task = asyncio.create_task(
            run_batch_requests(
                requests,
                batch,
                online,
                cache,
                poll_s=0.02,
                timeout_s=60,
                online_options={"backoff_base": 0.001},
            )
        )
        if not stop_once_submitted:
            return await task
        sidecar = Sidecar(cache.path)
        while not sidecar.open_jobs(cfg.name, cfg.provider) and not task.done():
            await asyncio.sleep(0.01)
        sidecar.close()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        return None
    finally:
        await batch.aclose()
        await online.aclose()


def _simulator(faults: FaultHook, latency_ms: int = 20):
    cfg = SimulatorConfig(wrong_rate=0.0, unparseable_rate=0.0, latency_ms=latency_ms)
    return start_simulator(EXAMPLES, cfg, required_key=KEY, faults=faults)


def test_restart_resumes_the_job_and_failed_lines_go_online(tmp_path: Path) -> None:
    jobs_created: list[str] = []
    lock = threading.Lock()

    def faults(call: SimCall) -> SimFault | None:
        with lock:
            if call.wire == JOB_WIRE:
                jobs_created.append(call.model)
            if call.wire == LINE_WIRE and EXAMPLES[0].question in call.messages[-1].content:
                return SimFault("server_error", "line failed", status=500)
        return None

    # each line takes 1 s: the first run is stopped (within ms) while its job is surely still running
    with _simulator(faults, latency_ms=1000) as handle, ResponseCache(tmp_path / "teachers.sqlite") as cache:
        cfg = _teacher(handle.mistral_url)
        assert asyncio.run(_run(cfg, cache, stop_once_submitted=True)) is None
        assert len(cache) == 0
        run = asyncio.run(_run(cfg, cache))
        assert run is not None
        assert jobs_created == ["open-mixtral-8x7b"]  # the restarted run polled the same job
        assert all(r.response.ok for r in run.results) and not any(r.cached for r in run.results)
        assert run.online_fallback == 1
        assert handle.stats["requests"] == len(EXAMPLES) + 1  # every line once, the failed one online
        assert len(cache) == len(EXAMPLES)
        [record] = Sidecar(cache.path).jobs("mixtral")
        assert record.state == "completed" and record.consumed and record.provider == "mistral"
        assert record.custom_ids == tuple(r.request.key() for r in run.results)
        again = asyncio.run(_run(cfg, cache))
        assert again is not None and all(r.cached for r in again.results)
        assert handle.stats["requests"] == len(EXAMPLES) + 1


def test_failed_job_goes_online(tmp_path: Path) -> None:
    def faults(call: SimCall) -> SimFault | None:
        return SimFault("server_error", "worker crashed") if call.wire == JOB_WIRE else None

    with _simulator(faults) as handle, ResponseCache(tmp_path / "teachers.sqlite") as cache:
        run = asyncio.run(_run(_teacher(handle.mistral_url), cache))
        assert run is not None and run.online_fallback == len(EXAMPLES)
        assert all(r.response.ok for r in run.results) and len(cache) == len(EXAMPLES)
        assert [j.state for j in run.jobs] == ["failed"] and run.jobs[0].error == "worker crashed"
