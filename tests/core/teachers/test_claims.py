"""Cross-process claims: runs sharing one reply cache never send one request twice; dead claims are taken."""

from __future__ import annotations

import asyncio
import multiprocessing
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

from fair_core.config import SimulatorConfig
from fair_core.prompts.builder import PromptSet
from fair_core.records import Message
from fair_core.teachers.base import ChatRequest, build_provider
from fair_core.teachers.cache import ResponseCache
from fair_core.teachers.claims import Owner
from fair_core.teachers.engine import CallOptions, run_requests, run_requests_sync
from fair_core.teachers.simulator import start_simulator
from fair_core.teachers.simulator.faults import FaultPlan
from tests.simulators.fixtures import EXAMPLES, FakeProvider, teacher

KEY = "sk-claims-key-0123456789abcdef"
PROMPTS = PromptSet()


def _requests(base_url: str) -> list[ChatRequest]:
    cfg = teacher("gpt", "m", base_url)
    return [ChatRequest.for_teacher(cfg, PROMPTS.rationale(e)) for e in EXAMPLES]


def _run_one(base_url: str, cache_path: str, start: Any) -> int:
    """One process of a run: the same requests, through the engine, to the shared simulator."""
    cfg = teacher("gpt", "m", base_url)
    requests = _requests(base_url)
    with ResponseCache(cache_path) as cache:
        start.wait(60)
        options = CallOptions(max_concurrency={"gpt": 2})
        results = run_requests_sync(requests, {"gpt": build_provider(cfg, KEY)}, cache, options)
    assert all(r.response.ok for r in results), [r.response.error for r in results]
    return sum(not r.cached for r in results)


def test_two_processes_sharing_a_cache_send_each_request_once(tmp_path: Path) -> None:
    plan = FaultPlan()  # no faults: it records every request the simulator receives
    sim = SimulatorConfig(wrong_rate=0.0, unparseable_rate=0.0, latency_ms=400.0)
    cache_path = str(tmp_path / "cache" / "teacher_responses.sqlite")
    ctx = multiprocessing.get_context("spawn")
    with start_simulator(EXAMPLES, sim, faults=plan) as handle, ctx.Manager() as manager, ctx.Pool(2) as pool:
        start = manager.Barrier(2)
        jobs = [pool.apply_async(_run_one, (handle.base_url, cache_path, start)) for _ in range(2)]
        sent = [job.get(timeout=120) for job in jobs]
    seen = Counter(call.request for call in plan.calls)
    assert len(seen) == len(EXAMPLES) and set(seen.values()) == {1}, seen  # each request once
    assert sum(sent) == len(EXAMPLES)  # what one process did not send, it got from the other's claim


def test_a_dead_owners_claim_is_taken_over_and_a_live_one_is_waited_for(tmp_path: Path) -> None:
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    request = ChatRequest("gpt", "openai", "m", (Message("user", "q"),))
    provider = FakeProvider()
    with ResponseCache(tmp_path / "c.sqlite") as cache:
        ghost = Owner(pid=dead.pid)  # a killed run's claim: its owner process is gone
        assert cache.claims.claim(request.key(), ghost) == "mine"
        [result] = asyncio.run(run_requests([request], {"gpt": provider}, cache))
        assert result.response.ok and not result.cached and provider.calls[request.key()] == 1
        assert cache.claims.count() == 0  # released with the stored reply

        other = ChatRequest("gpt", "openai", "m", (Message("user", "other"),))
        live = Owner()  # another live caller (this very process, another engine call)
        assert cache.claims.claim(other.key(), live) == "mine"

        async def holder_answers() -> None:
            await asyncio.sleep(0.3)
            cache.store(other, FakeProvider().script(other, 1), owner=live)

        async def both() -> list[Any]:
            waiting = asyncio.create_task(run_requests([other], {"gpt": provider}, cache))
            await holder_answers()
            return await waiting

        started = time.monotonic()
        [waited] = asyncio.run(both())
        assert waited.cached and waited.response.ok and provider.calls[other.key()] == 0
        assert time.monotonic() - started < 30


def test_the_engine_renews_its_claims_while_its_requests_are_in_flight(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from fair_core.teachers import engine

    monkeypatch.setattr(engine, "RENEW_EVERY_S", 0.05)
    request = ChatRequest("gpt", "openai", "m", (Message("user", "slow"),))
    with ResponseCache(tmp_path / "c.sqlite") as cache:

        async def main() -> list[float]:
            call = asyncio.create_task(run_requests([request], {"gpt": FakeProvider(delay=1.0)}, cache))
            seen: list[float] = []
            while not call.done():
                seen += [float(r[0]) for r in cache.database.query("SELECT claimed_at FROM claims")]
                await asyncio.sleep(0.1)
            [result] = await call
            assert result.response.ok
            return seen

        seen = asyncio.run(main())
        assert cache.claims.count() == 0  # released with the reply
    assert len(set(seen)) >= 2 and seen == sorted(seen), seen  # the lease was renewed while in flight
