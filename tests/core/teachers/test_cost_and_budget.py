"""Prices, cost columns of teacher_calls, the budget ledger in the engine, and seeded fault plans."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from fair_core.config import TeacherConfig
from fair_core.records import Message
from fair_core.teachers.base import ChatRequest, ChatResponse
from fair_core.teachers.cache import ResponseCache
from fair_core.teachers.caller import PlannedCall, call_rows
from fair_core.teachers.cost import (
    Price,
    call_cost,
    max_request_cost,
    price_for,
    prompt_token_estimate,
    request_token_estimate,
)
from fair_core.teachers.engine import CallOptions, CallResult, run_requests
from fair_core.teachers.ledger import RunLedger
from fair_core.teachers.sidecar import Sidecar
from fair_core.teachers.simulator.faults import FaultPlan, call_id
from fair_core.teachers.simulator.server import SimCall
from tests.simulators.fixtures import FakeProvider


def test_price_table_overrides_and_batch_discount() -> None:
    gpt = TeacherConfig(name="gpt", model="gpt-4o-mini")
    assert price_for(gpt) == Price(0.15, 0.60)
    assert price_for(TeacherConfig(name="g", provider="gemini", model="models/gemini-2.5-flash")) == Price(
        0.3, 2.5
    )
    assert price_for(TeacherConfig(name="x", model="my-local-model")) is None
    override = gpt.model_copy(update={"price_output_per_mtok": 1.0})
    assert price_for(override) == Price(0.15, 1.0, "config")
    price = Price(1.0, 2.0)
    assert price.cost(1_000_000, 500_000) == pytest.approx(2.0)
    assert price.cost(1_000_000, 500_000, "batch") == pytest.approx(1.0)
    assert price.cost(1_000_000, 500_000, "cache") == 0.0
    assert call_cost(None, 10, 10, "online") == 0.0


def test_token_estimate_is_chars_over_four_plus_framing() -> None:
    request = ChatRequest(
        "t", "openai", "m", (Message("system", "x" * 40), Message("user", "y" * 9)), max_tokens=100
    )
    assert prompt_token_estimate(request) == (10 + 4) + (3 + 4)
    assert request_token_estimate(request) == 21 + 100
    assert max_request_cost(Price(1e6, 1e6), request) == pytest.approx(121.0)


def _planned(teacher: str, text: str) -> PlannedCall:
    return PlannedCall(ChatRequest(teacher, "openai", "gpt-4o", (Message("user", text),)), "rationale", "e1")


def test_call_rows_cost_mode_and_billed() -> None:
    plans = [_planned("gpt", "a"), _planned("gpt", "b"), _planned("gpt", "a"), _planned("gpt", "c")]
    usage = {"prompt_tokens": 1000, "completion_tokens": 100}
    online = ChatResponse("x", meta={"mode": "online"}, **usage)
    batch = ChatResponse("y", meta={"mode": "batch"}, **usage)
    results = [
        CallResult(plans[0].request, online, cached=False, attempts=1),
        CallResult(plans[1].request, batch, cached=False, attempts=1),
        CallResult(plans[2].request, online, cached=False, attempts=1),  # the same request again
        CallResult(plans[3].request, batch, cached=True, attempts=0),
    ]
    rows = call_rows(plans, results, {"gpt": Price(2.5, 10.0)})
    full = (1000 * 2.5 + 100 * 10.0) / 1e6
    assert [r["mode"] for r in rows] == ["online", "batch", "cache", "cache"]
    assert [r["cost_usd"] for r in rows] == pytest.approx([full, full / 2, 0.0, 0.0])
    assert [r["billed_usd"] for r in rows] == pytest.approx([full, full / 2, full, full / 2])
    assert all(r["cost_usd"] == 0.0 for r in call_rows(plans, results))  # no price: no cost


def _requests(n: int) -> list[ChatRequest]:
    return [
        ChatRequest("gpt", "openai", "m", (Message("user", "q" * 400 + str(i)),), max_tokens=100)
        for i in range(n)
    ]


def test_budget_stops_sending_and_persists_spend(cache: ResponseCache, tmp_path: Path) -> None:
    def reply(request: ChatRequest, attempt: int) -> ChatResponse:
        return ChatResponse("ok", prompt_tokens=100, completion_tokens=50)

    price = Price(1000.0, 1000.0)  # $0.15 per reply, worst case $0.205 reserved
    requests = _requests(20)
    ledger = RunLedger(tmp_path / "sidecar.sqlite", "run-1", budget_usd=1.0)
    provider = FakeProvider(reply)
    results = asyncio.run(
        run_requests(
            requests,
            {"gpt": provider},
            cache,
            CallOptions(max_concurrency={"gpt": 1}, prices={"gpt": price}, ledger=ledger),
        )
    )
    sent = [r for r in results if r.response.ok]
    stopped = [r for r in results if r.response.meta.get("budget")]
    assert len(sent) + len(stopped) == 20 and 1 <= len(sent) <= 6 and stopped
    assert sum(provider.calls.values()) == len(sent) == len(cache)
    assert ledger.total_usd == pytest.approx(0.15 * len(sent)) and ledger.total_usd <= 1.0
    assert ledger.exhausted and "budget of $1 reached after $" in stopped[0].response.error
    assert "raise run.budget_usd and rerun" in stopped[0].response.error
    # a restarted run sees what it spent; a raised budget goes on and sends only the missing requests
    again = RunLedger(tmp_path / "sidecar.sqlite", "run-1", budget_usd=10.0)
    assert again.prior_usd == pytest.approx(ledger.total_usd)
    assert Sidecar(tmp_path / "sidecar.sqlite").spent("other-run") == 0.0
    rest = asyncio.run(
        run_requests(requests, {"gpt": provider}, cache, CallOptions(prices={"gpt": price}, ledger=again))
    )
    assert all(r.response.ok for r in rest)
    assert sum(provider.calls.values()) == 20  # nothing asked twice
    assert again.total_usd == pytest.approx(0.15 * 20)


def test_a_raised_budget_reopens_a_stopped_ledger(tmp_path: Path) -> None:
    ledger = RunLedger(None, "r", budget_usd=0.1)
    assert ledger.reserve(0.08) and not ledger.reserve(0.05) and ledger.exhausted
    assert not ledger.reserve(0.001)  # stopped for good ...
    ledger.set_budget(1.0)
    assert ledger.reserve(0.5)  # ... until the budget is raised
    assert RunLedger(None, "r").reserve(1e9)  # no budget: anything goes


def _call(text: str, model: str = "m") -> SimCall:
    return SimCall("openai", model, (Message("user", text),), "key")


def test_fault_plan_is_seeded_per_request_and_attempt() -> None:
    calls = [_call(f"q{i}") for i in range(400)]
    a = FaultPlan({"rate_limit": 0.1, "server_error": 0.1}, seed=3)
    b = FaultPlan({"rate_limit": 0.1, "server_error": 0.1}, seed=3)
    first = [a(c) for c in calls]
    assert [f.kind if f else None for f in first] == [f.kind if f else None for f in (b(c) for c in calls)]
    share = sum(f is not None for f in first) / len(calls)
    assert 0.12 < share < 0.28
    assert all(f.status == 429 for f in first if f and f.kind == "rate_limit")
    assert a.injected["rate_limit"] + a.injected["server_error"] == sum(f is not None for f in first)
    assert len(a.calls) == 400 and a.attempts()[call_id(calls[0])] == 1


def test_fault_plan_first_attempts_models_and_outages() -> None:
    plan = FaultPlan({"timeout": 1.0}, first_attempts=2, models={"m"}, timeout_delay_s=0.5)
    call = _call("q")
    assert [plan(call).kind, plan(call).kind, plan(call)] == ["timeout", "timeout", None]
    assert plan(_call("q", model="other")) is None
    plan.fail_model("other", "auth")
    assert plan(_call("z", model="other")).status == 401
    plan.clear("other")
    assert plan(_call("z", model="other")) is None
    assert plan.fault("timeout").delay_s == 0.5
    with pytest.raises(ValueError, match="more than 1"):
        FaultPlan({"rate_limit": 0.7, "server_error": 0.7})
    with pytest.raises(ValueError, match="unknown fault kinds"):
        FaultPlan({"gremlins": 0.1})  # type: ignore[dict-item]
