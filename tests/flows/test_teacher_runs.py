"""The teacher engine in the flows: budget stop and resume, --refresh, costs, batch mode, three providers."""

from __future__ import annotations

from collections import Counter

import pytest

from fair_core.store import RunStore
from fair_core.teachers.ledger import BudgetExceeded
from fair_core.teachers.simulator.faults import FaultPlan
from flows.pipeline import fair_pipeline
from flows.simulation import simulated_teachers
from tests.simulators.wires import ALL_WIRES

PRICED = {"max_tokens": 64, "price_input_per_mtok": 1000.0, "price_output_per_mtok": 1000.0}


def _teachers(**extra: object) -> list[dict[str, object]]:
    return [
        {"name": n, "model": m, **PRICED, **extra}
        for n, m in (("gpt", "gpt-t"), ("gem", "gem-t"), ("mix", "mix-t"))
    ]


def _sent(plan: FaultPlan, since: int = 0) -> Counter[str]:
    return Counter(c.request for c in plan.calls[since:])


@pytest.mark.slow
def test_budget_stop_resume_refresh_and_costs(tiny_config) -> None:
    config = tiny_config(teachers=_teachers(), run={"budget_usd": 1.0})
    run = RunStore(config.run.data_dir, config.run_id())
    with simulated_teachers(config) as (effective, simulator):
        plan = simulator.state.faults = FaultPlan()  # no faults: it records every request the server sees
        with pytest.raises(BudgetExceeded) as stopped:
            fair_pipeline(effective)
        message = str(stopped.value)
        assert message.startswith("budget of $1 reached after $")
        assert "replies are cached; raise run.budget_usd and rerun to continue" in message
        first = _sent(plan)
        assert 0 < sum(first.values()) < 36  # stopped inside the committee (3 teachers x 2 roles x 6)
        saved = [r for r in run.round(0).rows("teacher_calls") if r["status"] == "ok"]
        assert saved and all(r["cost_usd"] > 0 and r["mode"] == "online" for r in saved)

        raised = effective.model_copy(update={"run": effective.run.model_copy(update={"budget_usd": 50.0})})
        assert raised.run_id() == config.run_id()  # the budget is not part of the run's identity
        [summary] = fair_pipeline(raised)
        second = _sent(plan, sum(first.values()))
        assert not set(first) & set(second), "a resumed run re-sent requests it had paid for"
        assert set(_sent(plan).values()) == {1}

        calls = run.round(0).rows("teacher_calls")
        assert summary["teacher_calls"] == len(calls) == summary["from_cache"] + summary["requests_sent"]
        assert (
            summary["from_cache"] > 0
        )  # the stopped tasks' finished replies (finished tasks: Prefect's cache)
        assert summary["cost_usd"] == pytest.approx(sum(c["cost_usd"] for c in calls), abs=1e-6)
        assert summary["cost_openai_usd"] == pytest.approx(summary["cost_usd"], abs=1e-6)
        parts = summary["cost_feedback_usd"] + summary["cost_rationale_usd"] + summary["cost_review_usd"]
        assert parts == pytest.approx(summary["cost_usd"], abs=1e-6)
        assert summary["billed_usd"] > summary["cost_usd"] > 0  # cached rows keep their original price
        assert {c["mode"] for c in calls} == {"online", "cache"}

        before = len(plan.calls)
        [refreshed] = fair_pipeline(raised, refresh=True)
        again = _sent(plan, before)
        assert sum(again.values()) == len({c["request_key"] for c in calls})  # every request asked again
        assert refreshed["requests_sent"] == sum(again.values()) and refreshed["cost_usd"] > 0


def test_a_batch_mode_teacher_runs_through_its_batch_api(tiny_config) -> None:
    teachers = _teachers()
    teachers[0].update(mode="batch", batch_poll_s=0.05)
    teachers[1].update(provider="gemini")  # each provider finds its wire on the one simulator
    teachers[2].update(provider="mistral")
    config = tiny_config(teachers=teachers, review={"enabled": False})
    with simulated_teachers(config, wires=ALL_WIRES) as (effective, simulator):
        plan = simulator.state.faults = FaultPlan()
        [summary] = fair_pipeline(effective)
    wires = Counter(c.request for c in plan.calls)
    assert set(wires.values()) == {1}
    store = RunStore(config.run.data_dir, config.run_id()).round(0)
    jobs = store.rows("batch_jobs")
    assert {j["teacher"] for j in jobs} == {"gpt"} and all(j["state"] == "completed" for j in jobs)
    assert sum(j["n_requests"] for j in jobs) == summary["batch_calls"] > 0
    calls = store.rows("teacher_calls")
    gpt = [c for c in calls if c["teacher"] == "gpt"]
    assert gpt and all(c["mode"] == "batch" for c in gpt)
    online = [c for c in calls if c["teacher"] != "gpt"]
    assert online and all(c["mode"] == "online" and c["status"] == "ok" for c in online)
    assert {c["provider"] for c in online} == {"gemini", "mistral"}
    assert summary["cost_gemini_usd"] > 0 and summary["cost_mistral_usd"] > 0
    per_token = {c["mode"]: c["cost_usd"] / (c["prompt_tokens"] + c["completion_tokens"]) for c in calls}
    assert per_token["batch"] == pytest.approx(per_token["online"] / 2)


def test_each_provider_finds_its_simulator_wire() -> None:
    from types import SimpleNamespace

    from flows.simulation import simulator_base_url

    sim = SimpleNamespace(url="http://127.0.0.1:9", base_url="http://127.0.0.1:9/v1")
    assert simulator_base_url(sim, "openai") == "http://127.0.0.1:9/v1"
    assert simulator_base_url(sim, "gemini") == "http://127.0.0.1:9"
    assert simulator_base_url(sim, "mistral") == "http://127.0.0.1:9/mistral"


def test_the_product_simulator_refuses_a_protocol_it_does_not_speak(tiny_config) -> None:
    from fair_core.teachers.simulator.server import SimulatorSetupError

    teachers = _teachers()
    teachers[1].update(provider="gemini")
    config = tiny_config(teachers=teachers)
    with pytest.raises(SimulatorSetupError, match="OpenAI"), simulated_teachers(config):
        pass
