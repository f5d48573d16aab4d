"""The reply cache on PostgreSQL (a real server, tests/pg.py) behaves as on SQLite; two processes on it
send each request once and never overspend a shared budget. Run: pytest tests/core/teachers/test_pg_cache.py
"""

from __future__ import annotations

import multiprocessing
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from fair_core.config import SimulatorConfig
from fair_core.prompts.builder import PromptSet
from fair_core.records import Message
from fair_core.teachers.base import ChatRequest, ChatResponse, build_provider
from fair_core.teachers.batch import BatchJob
from fair_core.teachers.cache import ResponseCache
from fair_core.teachers.caller import PlannedCall, TeacherCaller, response_cache_path
from fair_core.teachers.claims import Owner
from fair_core.teachers.cost import Price, max_request_cost
from fair_core.teachers.db import open_database, redact
from fair_core.teachers.engine import CallOptions, run_requests_sync
from fair_core.teachers.ledger import RunLedger
from fair_core.teachers.sidecar import Sidecar, SpendRow
from fair_core.teachers.simulator import start_simulator
from fair_core.teachers.simulator.faults import FaultPlan
from tests.pg import INSTALL, pg_bin
from tests.simulators.fixtures import EXAMPLES, teacher

KEY = "sk-pg-cache-key-0123456789abcdef"
PROMPTS = PromptSet()
PRICE = Price(1000.0, 1000.0)


def _request(i: int) -> ChatRequest:
    return ChatRequest("gpt", "openai", "gpt-3.5-turbo", (Message("user", f"question {i}"),))


@pytest.fixture(params=["sqlite", "postgres"])
def where(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The same cache tests on a SQLite file and on a fresh Postgres database."""
    if request.param == "sqlite":
        return str(tmp_path / "cache" / "teacher_responses.sqlite")
    return str(request.getfixturevalue("postgres_url"))


def test_round_trip_overwrite_stats_and_reopen(where: str) -> None:
    with ResponseCache(where) as cache:
        assert cache.get(_request(1).key()) is None
        assert cache.put(_request(1), ChatResponse("old"))
        assert cache.put(_request(1), ChatResponse("new"))  # replaced, not duplicated
        assert cache.put(_request(2), ChatResponse(None, status="refused", error="content filter"))
        assert not cache.put(_request(3), ChatResponse.failure("error", "HTTP 500"))
    with ResponseCache(where) as reopened:
        found = reopened.get_many([_request(i).key() for i in range(1, 4)])
        assert found[_request(1).key()].text == "new" and set(found) == {_request(1).key(), _request(2).key()}
        assert len(reopened) == 2
        stats = reopened.stats()
        assert stats["by_status"] == {"ok": 1, "refused": 1} and stats["hits"] == 2 and stats["misses"] == 1


def test_threads_and_many_keys(where: str) -> None:
    with ResponseCache(where) as cache:

        def writer(offset: int) -> int:
            for i in range(offset, offset + 80):
                cache.put(_request(i), ChatResponse(f"reply {i}"))
            return len(cache.get_many([_request(i).key() for i in range(offset, offset + 80)]))

        with ThreadPoolExecutor(max_workers=8) as pool:
            assert [f.result() for f in [pool.submit(writer, k * 1000) for k in range(8)]] == [80] * 8
        assert len(cache.get_many([_request(k * 1000 + i).key() for k in range(8) for i in range(80)])) == 640


def test_store_commits_reply_spend_and_claim_release_together(where: str) -> None:
    request, owner = _request(1), Owner()
    with ResponseCache(where) as cache:
        assert cache.claims.claim(request.key(), owner) == "mine"
        assert cache.claims.claim(request.key(), Owner()) == "held"  # another live caller waits
        cache.store(
            request, ChatResponse("paid"), SpendRow("run-1", "gpt", request.key(), "online", 0.25), owner
        )
        assert cache.claims.count() == 0
        assert cache.claims.claim(request.key(), Owner()) == "cached"
        sidecar = Sidecar(where)
        assert sidecar.spent("run-1") == pytest.approx(0.25) and sidecar.cached_paid("run-1") == 1
        sidecar.close()


def test_batch_job_records_round_trip(where: str) -> None:
    job = BatchJob("job-1", "openai", "gpt", ("a", "b"), meta={"x": 1}, job_key="k1", submitted_at=1.0)
    sidecar = Sidecar(where)
    sidecar.put_job(job)
    sidecar.put_job(replace(job, state="completed", finished_at=2.0))  # upsert of the same job key
    [found] = sidecar.open_jobs("gpt", "openai")
    assert found.state == "completed" and found.custom_ids == ("a", "b") and found.meta == {"x": 1}
    sidecar.put_job(replace(found, consumed=True))
    assert sidecar.open_jobs("gpt", "openai") == [] and sidecar.get_job("k1").consumed
    sidecar.close()


def test_a_shared_budget_hold_refuses_what_another_holder_took(where: str) -> None:
    first, second = RunLedger(where, "run-b", budget_usd=1.0), RunLedger(where, "run-b", budget_usd=1.0)
    assert first.reserve(0.6)
    assert not second.reserve(0.6) and second.exhausted  # the other ledger's hold counts
    first.release(0.6)
    assert RunLedger(where, "run-b", budget_usd=1.0).reserve(0.6)  # given back: fits again
    first.close()
    second.close()


def test_a_claim_from_another_host_is_kept_while_renewed_and_taken_once_its_lease_runs_out(
    where: str,
) -> None:
    """Another host's process cannot be checked: its claim is a lease, renewed while it lives (a virtual
    clock)."""
    from fair_core.teachers.claims import LEASE_S, RENEW_EVERY_S, Claims

    now = [1_000.0]
    with ResponseCache(where) as cache:
        claims = Claims(cache.database, clock=lambda: now[0])
        far, here = Owner(host="another-machine", pid=1), Owner()
        key = ChatRequest("gpt", "openai", "m", (Message("user", "q"),)).key()
        assert claims.claim(key, far) == "mine"
        for _ in range(int(2 * LEASE_S / RENEW_EVERY_S)):  # it lives: two leases' time, renewed as it goes
            now[0] += RENEW_EVERY_S
            claims.renew(far)
            assert claims.claim(key, here) == "held" and claims.holder(key, here) is not None
        now[0] += LEASE_S - 1  # it died right after its last renewal: still within the lease
        assert claims.claim(key, here) == "held"
        now[0] += 2
        assert claims.holder(key, here) is None and claims.claim(key, here) == "mine"
        claims.renew(far)  # a renewal from the old owner does not take the claim back
        assert claims.claim(key, far) == "held"


def test_the_password_never_shows(postgres_server: Any) -> None:
    url = postgres_server.url().replace("postgres@", "postgres:s3cret-pw@")
    assert redact(url) == postgres_server.url().replace("postgres@", "postgres:***@")
    with ResponseCache(url) as cache:  # trust auth: the password is accepted and ignored
        assert "s3cret" not in repr(cache) + cache.location + str(cache.stats())
    wrong = f"postgresql://postgres:s3cret-pw@127.0.0.1:{postgres_server.port + 1}/none"
    with pytest.raises(Exception) as caught:
        ResponseCache(wrong)
    assert "s3cret" not in str(caught.value) and "***" in str(caught.value)


def _requests(base_url: str, origin: str = "") -> list[ChatRequest]:
    """The examples' rationale requests; with an `origin`, three copies of each under distinct keys."""
    cfg = teacher("gpt", "m", base_url, max_tokens=128)
    base = [ChatRequest.for_teacher(cfg, PROMPTS.rationale(e)) for e in EXAMPLES]
    if not origin:
        return base
    return [replace(r, origin=f"{origin}-{i}") for i in range(3) for r in base]


def _run_one(base_url: str, url: str, start: Any, origin: str, budget: float | None) -> tuple[int, int]:
    """One worker process: its requests through the engine to the shared simulator, on the shared database.
    Returns (replies it sent, requests the budget stopped)."""
    cfg = teacher("gpt", "m", base_url, max_tokens=128)
    ledger = RunLedger(url, "run-shared", budget) if budget is not None else None
    with ResponseCache(url) as cache:
        start.wait(60)
        options = CallOptions(max_concurrency={"gpt": 2}, prices={"gpt": PRICE}, ledger=ledger)
        results = run_requests_sync(
            _requests(base_url, origin), {"gpt": build_provider(cfg, KEY)}, cache, options
        )
    if ledger is not None:
        ledger.close()
    stopped = sum(bool(r.response.meta.get("budget")) for r in results)
    assert all(r.response.ok for r in results if not r.response.meta.get("budget")), results
    return sum(not r.cached and r.response.ok for r in results), stopped


def _two_workers(
    url: str, origins: tuple[str, str], budget: float | None
) -> tuple[list[tuple[int, int]], FaultPlan]:
    plan = FaultPlan()  # no faults: it records every request the simulator receives
    sim = SimulatorConfig(wrong_rate=0.0, unparseable_rate=0.0, latency_ms=300.0)
    ctx = multiprocessing.get_context("spawn")
    with start_simulator(EXAMPLES, sim, faults=plan) as handle, ctx.Manager() as manager, ctx.Pool(2) as pool:
        start = manager.Barrier(2)
        jobs = [pool.apply_async(_run_one, (handle.base_url, url, start, o, budget)) for o in origins]
        return [job.get(timeout=180) for job in jobs], plan


def test_two_processes_on_postgres_send_each_request_once(postgres_url: str) -> None:
    done, plan = _two_workers(postgres_url, ("", ""), None)
    seen = Counter(call.request for call in plan.calls)
    assert len(seen) == len(EXAMPLES) and set(seen.values()) == {1}, seen  # each request once
    assert sum(sent for sent, _ in done) == len(EXAMPLES)  # the other process got the rest from the cache


def test_two_processes_sharing_a_budget_never_overspend(postgres_url: str) -> None:
    worst = max(max_request_cost(PRICE, r) for r in _requests("http://x", "w"))
    # Each process alone wants ~6x `worst` (18 replies of ~1/3 of it) and, counting only its own spend,
    # would take up to `budget - worst` of it: together well over `budget`, unless they share the holds.
    budget = 3.25 * worst
    done, plan = _two_workers(postgres_url, ("w1", "w2"), budget)
    sidecar = Sidecar(postgres_url)
    spent = sidecar.spent("run-shared")
    paid = sidecar.cached_paid("run-shared")
    sidecar.close()
    assert 0 < spent <= budget
    assert sum(stopped for _, stopped in done) > 0  # the budget was binding
    assert len(plan.calls) == paid == sum(sent for sent, _ in done)  # every send is paid and counted


def test_a_caller_on_postgres_resends_only_what_is_missing_and_writes_no_file(
    postgres_url: str, tmp_path: Path
) -> None:
    plan = FaultPlan()
    sim = SimulatorConfig(wrong_rate=0.0, unparseable_rate=0.0)
    with start_simulator(EXAMPLES, sim, faults=plan) as handle:
        prices = {"price_input_per_mtok": 1000.0, "price_output_per_mtok": 1000.0}
        limits = {"rpm": 6000, "shared_concurrency": 2}
        cfg = teacher("gpt", "m", handle.base_url, api_key_secret="gpt-key", **limits, **prices)
        planned = [
            PlannedCall(ChatRequest.for_teacher(cfg, PROMPTS.rationale(e)), "rationale", e.id)
            for e in EXAMPLES
        ]

        def call(part: list[PlannedCall]) -> Any:
            caller = TeacherCaller(
                cfg,
                data_dir=str(tmp_path),
                run_id="run-pg",
                budget_usd=100.0,
                secret_loader=lambda name: KEY,
                cache_url=postgres_url,
            )
            return caller.call(part, "rationale-gpt")

        call(planned[:2]).check()
        assert len(plan.calls) == 2
        outcome = call(planned)  # a re-run with more requests: only the missing ones are sent
        outcome.check()
    assert len(plan.calls) == len(EXAMPLES)
    assert [r["mode"] for r in outcome.calls] == ["cache"] * 2 + ["online"] * (len(EXAMPLES) - 2)
    assert not response_cache_path(tmp_path).exists()  # everything went to the database
    sidecar = Sidecar(postgres_url)
    assert sidecar.cached_paid("run-pg") == len(EXAMPLES)  # each paid reply has its spend row
    assert sidecar.spent("run-pg") == pytest.approx(outcome.run_total_usd) and outcome.run_total_usd > 0
    sidecar.close()
    db = open_database(postgres_url)
    [(key,)] = db.query("SELECT key FROM rate_buckets")  # its RPM went through the shared bucket
    slots = db.query("SELECT key, holder FROM rate_leases ORDER BY slot")  # and its sends through 2 slots
    db.close()
    assert key.startswith("openai|m|") and key.endswith("|rpm")
    assert [(k.rsplit("|", 1)[1], holder) for k, holder in slots] == [("concurrency", None)] * 2


def test_missing_server_binaries_name_the_install_script(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no pg_ctl on PATH, none where the pattern looks
    with pytest.raises(RuntimeError, match=INSTALL):
        pg_bin(str(tmp_path / "*" / "bin" / "pg_ctl"))
